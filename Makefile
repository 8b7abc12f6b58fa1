# Quick start:  make run   (the main job)     make test   (the test suite)
# Both set everything up on a fresh machine: .venv with torch 2.13.0 (CPU) and datadiet (with Ray), and
# Debian's dataset-fashion-mnist when apt is there and the data is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.datadiet-installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: run test data bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

data:
	@if [ -f $(FMNIST) ] || [ -n "$$DATADIET_DATA" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing Debian's dataset-fashion-mnist"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null \
	    || echo "warning: could not install dataset-fashion-mnist; pass --data-dir or set DATADIET_DATA"; \
	else echo "warning: no apt-get; put the Fashion-MNIST IDX files in a folder and set DATADIET_DATA"; fi

# The data diet on Fashion-MNIST, 3 training seeds per cell; reproduces results/fashion-mnist-epochs
# (36 minutes from an empty runs/ on 2 idle cores; see README.md, Speed).
run: $(STAMP) data
	$(VENV)/bin/datadiet sweep fashion-mnist --model cnn --epochs 8 \
	  --methods random,input-norm,el2n,grand,grand@0 --fractions 0,0.3,0.5,0.7 \
	  --score-epoch 2 --score-seeds 2 --seeds 3 --budget epochs --out runs

# Lint and format checks first (CI fails on what ruff finds), then the tests.
test: $(STAMP) data
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(PY) -m pytest

bench: $(STAMP) data
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) runs

# Quick start:  make run   (the main job)     make test   (the test suite)
# Both set everything up on a fresh machine: .venv with torch 2.13.0 (CPU) and datadiet (with Ray and
# Hugging Face datasets), and Debian's dataset-fashion-mnist when apt is there and the data is missing.
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
	$(PY) -m pip install -q -e '.[dev,ray,hf]'
	touch $(STAMP)

data:
	@if [ -f $(FMNIST) ] || [ -n "$$DATADIET_DATA" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing Debian's dataset-fashion-mnist"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null \
	    || echo "warning: could not install dataset-fashion-mnist; pass --data-dir or set DATADIET_DATA"; \
	else echo "warning: no apt-get; put the Fashion-MNIST IDX files in a folder and set DATADIET_DATA"; fi

# Does the diet pay for itself? Fashion-MNIST, CNN 4 epochs, 20% of the training compute saved by
# random pruning, RS2, InfoBatch and EL2N from an MLP proxy, 3 training seeds per cell, 2 Ray workers;
# a quick cut of the question results/fashion-mnist-diet answers (no validation split, 3 seeds; about 10 minutes on 2 idle cores).
run: $(STAMP) data
	$(VENV)/bin/datadiet sweep fashion-mnist --model cnn --epochs 4 \
	  --methods random,rs2,infobatch,el2n --fractions 0,0.2 --seeds 3 \
	  --score-model mlp --score-epoch 1 --score-seeds 1 \
	  --executor ray --workers 2 --threads 1 --out runs

# Lint and format checks first (CI fails on what ruff finds), then the tests.
test: $(STAMP) data
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(PY) -m pytest

bench: $(STAMP) data
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) runs

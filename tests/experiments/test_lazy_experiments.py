"""The CLI on ``npy:DIR`` reads its inputs lazily: a source that logs every read shows no read was larger
than a batch, and train, score, prune and sweep give exactly the numbers of the same data in memory."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datadiet.cli.main import main
from datadiet.data import loaders, registry
from datadiet.data.sources import NpySource

LOG = "reads.log"
PREDICT_BATCH = 1024  # the largest batch in use: predict_logits' and the score functions'


class CountingNpy(NpySource):
    """``npy:DIR`` that appends every read's row count to ``DIR/../reads.log`` (DataLoader workers too)."""

    def read(self, indices, part="train"):
        with open(self.directory.parent / LOG, "a") as f:
            f.write(f"{np.asarray(indices).size}\n")
        return super().read(indices, part)


class InMemoryNpy(NpySource):
    """``npy:DIR`` loaded whole, as before inputs were read lazily (the reference)."""

    def to_lazy_dataset(self):
        return self.to_dataset()


@pytest.fixture(autouse=True)
def read_lazily(monkeypatch):
    """Digits fit in memory, so ``npy:`` would load them whole: here every size is read lazily."""
    monkeypatch.setattr(registry, "IN_MEMORY_BYTES", 0)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lazy")
    d = root / "digits"
    d.mkdir()
    for k, v in loaders.load_digits_arrays().items():
        np.save(d / f"{k}.npy", v.astype(np.uint8) if k[0] == "x" else v)
    return d


def _cli(monkeypatch, capsys, source, *args):
    """``datadiet ARGS --json`` in this process with ``npy:`` read by ``source``: its JSON output."""
    monkeypatch.setitem(registry.SOURCES, "npy:", (source, "npy:my_arrays"))
    registry._load_clean.cache_clear()
    capsys.readouterr()
    status = main([*map(str, args), "--json"])
    out = capsys.readouterr()
    registry._load_clean.cache_clear()
    assert status == 0, out.err
    return json.loads([line for line in out.out.splitlines() if line.strip()][-1])


def _both(monkeypatch, capsys, tmp_path, digits_dir, *args):
    """The command's JSON in memory and lazily (separate output folders), and the lazy run's reads."""
    log = digits_dir.parent / LOG
    log.unlink(missing_ok=True)
    ref = _cli(monkeypatch, capsys, InMemoryNpy, *args, "--out", tmp_path / "memory")
    assert not log.exists()  # the in-memory reference never reads row by row
    lazy = _cli(monkeypatch, capsys, CountingNpy, *args, "--out", tmp_path / "lazy")
    reads = [int(v) for v in log.read_text().split()]
    log.unlink()
    return ref, lazy, reads


def _no_whole_reads(reads, num_train):
    assert reads, "the lazy run read nothing"
    assert max(reads) <= PREDICT_BATCH < num_train, max(reads)


def _strip(obj, root):
    """A JSON result with its output folder's path and timings left out (they differ between runs)."""
    if isinstance(obj, dict):
        return {k: _strip(v, root) for k, v in obj.items() if "seconds" not in k and k not in ("path", "run_dir")}
    if isinstance(obj, list):
        return [_strip(v, root) for v in obj]
    return obj.replace(str(root), "ROOT") if isinstance(obj, str) else obj


def test_train_with_a_validation_part_reads_batches_and_equals_memory(monkeypatch, capsys, tmp_path, digits_dir):
    args = ["train", f"npy:{digits_dir}", "--model", "mlp", "--epochs", "2", "--val-fraction", "0.2"]
    ref, lazy, reads = _both(monkeypatch, capsys, tmp_path, digits_dir, *args)
    assert lazy["test_accuracy"] == ref["test_accuracy"] and lazy["val_accuracy"] == ref["val_accuracy"]
    assert _strip(lazy, tmp_path / "lazy") == _strip(ref, tmp_path / "memory")
    _no_whole_reads(reads, 1078)
    assert max(reads) < 449 + 1  # training batches, the test set and the validation part (<= 449 rows)


def _table(result) -> pd.DataFrame:
    path = Path(result["scores"])
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize("method", ["el2n@1", "input-norm"])
def test_score_and_prune_equal_memory(monkeypatch, capsys, tmp_path, digits_dir, method):
    args = ["score", f"npy:{digits_dir}", "--method", method, "--seeds", "1", "--model", "mlp", "--epochs", "2"]
    ref, lazy, reads = _both(monkeypatch, capsys, tmp_path, digits_dir, *args)
    pd.testing.assert_frame_equal(_table(lazy), _table(ref), check_exact=True)
    _no_whole_reads(reads, 1348)
    kept = []
    for result, where in ((ref, "memory"), (lazy, "lazy")):
        out = tmp_path / f"{where}-kept.npy"
        res = _cli(monkeypatch, capsys, CountingNpy, "prune", result["scores"], "--keep", "0.5", "--out", out)
        assert res["kept"] == 674
        kept.append(np.load(out))
    assert np.array_equal(kept[0], kept[1])


def test_sweep_equals_memory(monkeypatch, capsys, tmp_path, digits_dir):
    args = ["sweep", f"npy:{digits_dir}", "--methods", "el2n,random", "--fractions", "0.5", "--seeds", "1"]
    args += ["--score-epoch", "1", "--score-seeds", "1", "--score-model", "mlp", "--model", "mlp", "--epochs", "1"]
    ref, lazy, reads = _both(monkeypatch, capsys, tmp_path, digits_dir, *args)
    assert _strip(lazy, tmp_path / "lazy") == _strip(ref, tmp_path / "memory")
    _no_whole_reads(reads, 1348)


def test_the_lazy_dataset_is_the_in_memory_one(digits_dir):
    lazy, ref = CountingNpy(digits_dir).to_lazy_dataset(), NpySource(digits_dir).to_dataset()
    assert lazy.fingerprint == ref.fingerprint and lazy.mean == ref.mean and lazy.std == ref.std
    assert lazy.class_names == ref.class_names and lazy.bytes_per_example == ref.bytes_per_example
    assert torch.equal(lazy.y_train, ref.y_train) and torch.equal(lazy.x_test[:], ref.x_test)


def test_lottery_and_lmc_equal_memory(monkeypatch, capsys, tmp_path, digits_dir):
    for args in (
        ["lottery", f"npy:{digits_dir}", "--model", "mlp", "--levels", "2", "--epochs", "1"],
        ["lmc", f"npy:{digits_dir}", "--model", "mlp", "--from-step", "5", "--epochs", "1", "--batch-size", "64"],
    ):
        ref, lazy, reads = _both(monkeypatch, capsys, tmp_path / args[0], digits_dir, *args)
        assert _strip(lazy, tmp_path / args[0] / "lazy") == _strip(ref, tmp_path / args[0] / "memory")
        _no_whole_reads(reads, 1348)
    memory = sorted((tmp_path / "lmc" / "memory").glob("lmc_*/*.parquet"))
    assert memory  # the per-example barriers: training-set losses and errors read batch by batch
    for path in memory:
        lazy = tmp_path / "lmc" / "lazy" / path.relative_to(tmp_path / "lmc" / "memory")
        pd.testing.assert_frame_equal(pd.read_parquet(lazy), pd.read_parquet(path), check_exact=True)

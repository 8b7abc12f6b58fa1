"""npy:DIR and parquet:DIR from the command line: score, prune --export in the source's format, bad input."""

import numpy as np
import pytest

from tests.cli.conftest import last_json, run_cli
from tests.data.test_sources import _arrays, _npy_dir, _parquet_dir


@pytest.fixture(scope="module")
def npy_scores(tmp_path_factory):
    root = tmp_path_factory.mktemp("npysrc")
    arrays = _arrays(n_train=120, n_test=20)
    d = _npy_dir(root / "data", arrays)
    args = ["score", f"npy:{d}", "--method", "el2n", "--epoch", "1", "--seeds", "1", "--model", "mlp"]
    p = run_cli(*args, "--no-figures", "--json", "--out", root / "runs")
    assert p.returncode == 0, p.stderr
    return d, arrays, last_json(p)["scores"]


def test_prune_exports_npy_in_its_own_format_and_reports_bytes(npy_scores, tmp_path):
    d, arrays, scores = npy_scores
    out, dest = tmp_path / "kept.npy", tmp_path / "diet"
    p = run_cli("prune", scores, "--keep", "0.25", "--out", out, "--export", dest, "--json")
    assert p.returncode == 0, p.stderr
    res = last_json(p)
    kept = np.load(out)
    disk = res["export_storage"]
    assert disk["path"] == str(dest) and disk["format"] == "npy" and disk["bytes_kept"] > 0
    assert (
        disk["bytes_saved"]
        == (d / "x_train.npy").stat().st_size + (d / "y_train.npy").stat().st_size - disk["bytes_kept"]
    )
    assert np.array_equal(np.load(dest / "x_train.npy"), arrays["x_train"][kept])  # the kept rows, in order
    assert np.array_equal(np.load(dest / "y_train.npy"), arrays["y_train"][kept])
    p = run_cli("prune", scores, "--keep", "0.25", "--out", tmp_path / "k2.npy", "--export", tmp_path / "diet2")
    assert p.returncode == 0, p.stderr
    assert "MB of training data kept on disk" in p.stdout and "saved" in p.stdout
    p = run_cli("prune", scores, "--keep", "0.25", "--out", tmp_path / "k3.npy", "--export", dest)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "exports to a new folder" in p.stderr, p.stderr


def test_bad_sources_exit_2_with_one_line(tmp_path):
    good = _arrays(n_train=20, n_test=4)
    corrupt = _npy_dir(tmp_path / "corrupt", good)
    (corrupt / "x_test.npy").write_bytes(b"garbage")
    names = _npy_dir(tmp_path / "names", good, class_names=["a", "b"])
    shards = _parquet_dir(tmp_path / "shards", good, shard_rows=8)
    (shards / "train-00002.parquet").write_bytes(b"not parquet")
    cases = [
        (f"npy:{tmp_path / 'nope'}", "npy dataset folder not found"),
        (f"npy:{corrupt}", "corrupt npy file"),
        (f"npy:{names}", "label 3 is outside the 2 classes"),
        (f"parquet:{shards}", "corrupt parquet shard"),
    ]
    for name, message in cases:
        p = run_cli("train", name, "--model", "mlp", "--epochs", "1", "--out", tmp_path / "runs")
        assert p.returncode == 2, (name, p.stderr)
        assert p.stderr.count("\n") == 1 and message in p.stderr, p.stderr

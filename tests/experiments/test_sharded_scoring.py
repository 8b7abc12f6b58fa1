"""Sharded scoring: the shard plan and merge against naive references, and on a real local Ray
instance (127.0.0.1, 2 workers x 1 thread, started once here) the Ray-sharded scores and the scoring
stage's table equal the in-process ones to the last bit."""

from __future__ import annotations

import os
import pickle
import re
from functools import partial

import numpy as np
import pytest
import torch

from datadiet.data.rows import ArrayRows, SourceRows, row_reader
from datadiet.data.sources import NpySource
from datadiet.errors import DataDietError
from datadiet.experiments import DatasetSpec, InProcess, ScoreConfig, ShardedScoring, make_executor, score_dataset
from datadiet.models import build_model
from datadiet.scores import el2n, loss
from datadiet.scores.shards import default_shard_rows, merge_shards, plan_shards, score_shard
from datadiet.training import TrainConfig
from tests.cli.conftest import run_cli


@pytest.fixture(scope="module")
def npy_dir(tmp_path_factory):
    """500 training examples (8x8 uint8, 3 classes) as an npy:DIR."""
    d = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(0)
    for part, n in (("train", 500), ("test", 60)):
        np.save(d / f"x_{part}.npy", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
        np.save(d / f"y_{part}.npy", np.arange(n) % 3)
    return d


def test_the_plan_cuts_whole_batches_and_the_merge_restores_row_order():
    assert plan_shards(500, shard_rows=100, batch_size=64) == [(0, 128), (128, 256), (256, 384), (384, 500)]
    assert plan_shards(10, shard_rows=64, batch_size=64) == [(0, 10)]
    assert plan_shards(0, shard_rows=3, batch_size=2) == []
    for n, rows, bs in [(1, 1, 1), (1000, 7, 3), (4097, 1024, 1024)]:
        shards = plan_shards(n, shard_rows=rows, batch_size=bs)
        assert np.array_equal(np.concatenate([np.arange(a, b) for a, b in shards]), np.arange(n))
        assert all((b - a) % bs == 0 for a, b in shards[:-1])
    assert default_shard_rows(200_000, 2, 1024) == 25_000 and default_shard_rows(10**7, 2, 1024) == 1 << 15
    values = np.random.default_rng(1).normal(size=50)
    parts = [(np.arange(a, b), values[a:b]) for a, b in [(40, 50), (0, 25), (25, 40)]]
    assert np.array_equal(merge_shards(50, parts), values)
    with pytest.raises(DataDietError, match=r"^row 3 was scored twice$"):
        merge_shards(5, [(np.arange(0, 4), np.zeros(4)), (np.arange(3, 5), np.zeros(2))])
    with pytest.raises(DataDietError, match=r"^2 row\(s\) were not scored \(the first: row 3\)$"):
        merge_shards(5, [(np.arange(0, 3), np.zeros(3))])
    with pytest.raises(DataDietError, match="shard_rows must be"):
        plan_shards(5, shard_rows=0, batch_size=2)


def test_scoring_shard_by_shard_equals_one_pass(npy_dir):
    """The in-process reference of what the Ray workers do: row readers and per-shard scoring."""
    source = NpySource(npy_dir)
    ds = source.to_dataset()
    model = build_model("cnn", ds.input_shape, ds.num_classes, width=0.5, seed=0)
    whole = el2n(model, ds.x_train, ds.y_train, batch_size=64)
    for rows in (row_reader(ds), row_reader(source)):
        parts = [
            (np.arange(a, b), score_shard(model, "el2n", *rows.read(a, b), batch_size=64))
            for a, b in plan_shards(len(rows), shard_rows=100, batch_size=64)
        ]
        assert np.array_equal(merge_shards(len(rows), parts), whole)
    with pytest.raises(DataDietError, match="data must be a datadiet Dataset or a lazy source"):
        row_reader(ds.x_train)


def test_an_npy_source_pickles_without_its_arrays(npy_dir):
    rows = SourceRows(NpySource(npy_dir))  # mean/std computed once, here
    blob = pickle.dumps(rows)
    assert len(blob) < 20_000  # not the 32 kB of training inputs
    back = pickle.loads(blob)
    assert "_scanned" in back.source.__dict__ and "mean_std" in back.source.__dict__
    for a, b in zip(back.read(17, 321), rows.read(17, 321)):
        assert torch.equal(a, b)
    assert isinstance(row_reader(rows), SourceRows) and isinstance(ArrayRows(np.zeros((2, 3)), [0, 1]), ArrayRows)


# --- on Ray --------------------------------------------------------------------------------------------

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'datadiet[ray]')")


@pytest.fixture(scope="module")
def sharded():
    s = ShardedScoring(workers=2, threads=1, shard_rows=100)  # one Ray start for the module
    yield s
    s.close()
    assert not ray.is_initialized()


def test_ray_sharded_el2n_and_loss_equal_the_in_process_scores_to_the_bit(sharded, npy_dir):
    torch.set_num_threads(1)  # as the workers
    source = NpySource(npy_dir)
    ds = source.to_dataset()
    model = build_model("cnn", ds.input_shape, ds.num_classes, width=0.5, seed=0)
    # el2n: the workers read their rows from the memory-mapped files; uneven shards 128,128,128,116
    got = sharded.score(model, NpySource(npy_dir), "el2n", batch_size=64)
    assert np.array_equal(got, el2n(model, ds.x_train, ds.y_train, batch_size=64))
    assert sharded.pids and os.getpid() not in sharded.pids  # scored by Ray workers
    # loss: in-memory rows, the weights shipped as a state dict beside a builder (default batches of 1024)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    got = sharded.score((partial(build_model, "cnn", ds.input_shape, 3, width=0.5, seed=7), state), ds, "loss")
    assert np.array_equal(got, loss(model, ds.x_train, ds.y_train))
    # an error on a worker is the in-process error, one line
    small = build_model("mlp", ds.input_shape, 2, seed=0)
    with pytest.raises(DataDietError, match=r"^targets must be < the model's 2 classes, got 2$"):
        sharded.score(small, ds, "el2n")


def test_the_scoring_stage_sharded_on_ray_writes_the_in_process_table(sharded, tmp_path):
    torch.set_num_threads(1)  # as the workers (the scores here do not depend on it, but that is not the point)
    digits = DatasetSpec("digits").resolve()  # 1,348 rows: shards of 1,024 and 324 (GraNd's batches of 1024)
    cfg = ScoreConfig(method="grand", epoch=1, seeds=(0,), train=TrainConfig(model="mlp", epochs=1, batch_size=64))
    here = score_dataset(digits, cfg, out=tmp_path / "here")
    on_ray = score_dataset(digits, cfg, out=tmp_path / "ray", executor=InProcess(scoring=sharded))
    assert on_ray.path.parent.name == here.path.parent.name  # the same job key: sharding changes no result
    assert on_ray.table.equals(here.table)  # every column, every bit
    assert sharded.pids and os.getpid() not in sharded.pids


def test_score_workers_options_are_checked_and_a_dead_address_is_one_line(tmp_path):
    with pytest.raises(DataDietError, match="score_workers applies to executor 'inprocess'"):
        make_executor("ray", score_workers=2)
    with pytest.raises(DataDietError, match="score_workers must be"):
        make_executor(score_workers=0)
    proc = run_cli(
        "score", "digits", "--method", "el2n", "--epoch", "1", "--epochs", "1", "--seeds", "1", "--model", "mlp",
        "--score-workers", "2", "--address", "127.0.0.1:1", "--out", tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and re.search(r"nothing answers at Ray address 127\.0\.0\.1:1", proc.stderr)
    assert not list(tmp_path.glob("score_*"))

"""A scoring run interrupted and re-run gives exactly the scores of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from datadiet.experiments import RunDirCheckpointer, ScoreConfig, score_dataset
from datadiet.training import TrainConfig, train
from tests.cli.conftest import last_json, run_cli


@pytest.fixture(scope="module")
def slow_npz(tmp_path_factory):
    """Enough examples for one CNN epoch to take a moment, so a kill can land between epochs."""
    rng = np.random.default_rng(0)
    n = 6000
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 1, (n, 1, 16, 16)).astype(np.float32)
    x[np.arange(n), 0, y * 4, y * 4] += 3
    path = tmp_path_factory.mktemp("npz") / "slow.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:500], y_test=y[:500])
    return path


def test_scoring_run_killed_after_first_epoch_resumes_to_identical_scores(slow_npz, tmp_path):
    args = [
        "score",
        f"npz:{slow_npz}",
        "--method",
        "el2n,forgetting@2",
        "--epoch",
        "2",
        "--epochs",
        "4",
        "--seeds",
        "1",
        "--model",
        "cnn",
        "--width",
        "0.5",
        "--no-figures",
        "--json",
    ]
    env = {**os.environ, "COLUMNS": "120"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "datadiet.cli.main", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 240
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(killed.glob("ckpt_*/state.pt"))
        if found:  # the resume state of the first epoch end is on disk
            state = found[0]
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert state is not None and proc.returncode == -signal.SIGKILL, "the run was not killed mid-way"
    assert not (state.parent / "model.pt").exists()  # killed before its epoch-2 model was written
    resumed = run_cli(*args, "--out", killed)
    assert resumed.returncode == 0, resumed.stderr
    straight = run_cli(*args, "--out", tmp_path / "straight")
    a, b = last_json(resumed), last_json(straight)
    for m in ("el2n", "forgetting"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(a["methods"][m]["scores"]), pd.read_parquet(b["methods"][m]["scores"])
        )


def test_crash_after_the_final_resume_state_but_before_the_checkpoint(tiny_images, tmp_path):
    """The resume state of the stopping step is saved, then the process dies before model.pt: the
    re-run must not train past epoch t."""
    tcfg = TrainConfig(model="mlp", epochs=4, batch_size=32)
    cfg = ScoreConfig(method="el2n", epoch=2, seeds=(0,), train=tcfg)
    straight = score_dataset(tiny_images, cfg, out=tmp_path / "straight")
    crashed = tmp_path / "crashed"
    from datadiet.experiments import DatasetSpec
    from datadiet.runs import RunDir

    seed_cfg = cfg.seed_config(0)
    rd = RunDir(crashed, "ckpt", {"dataset": DatasetSpec.of(tiny_images).key(), "train": seed_cfg, "epoch": 2}).create()
    from datadiet.scores import AUMHook, ForgettingHook

    train(
        tiny_images,
        seed_cfg,
        hooks=[ForgettingHook(256), AUMHook(256)],
        checkpointer=RunDirCheckpointer(rd.path),
        stop_at=2 * 8,
    )
    assert rd.file("state.pt").exists() and not rd.file("model.pt").exists()
    again = score_dataset(tiny_images, cfg, out=crashed)
    pd.testing.assert_frame_equal(straight.table, again.table)

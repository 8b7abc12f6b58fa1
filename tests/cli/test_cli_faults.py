"""A sweep killed (SIGKILL) three times at random points and re-run ends with the table of an
uninterrupted run, and no finished job runs twice; the same sweep under ``--executor ray`` (a real
local Ray instance) gives the same table. Real processes throughout."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from datadiet.cli.main import INTERRUPTED
from tests.cli.conftest import last_json, run_cli

SWEEP = [
    "sweep",
    "digits",
    "--model",
    "mlp",
    "--epochs",
    "3",
    "--batch-size",
    "16",
    "--methods",
    "random,el2n,forgetting",
    "--fractions",
    "0,0.5",
    "--seeds",
    "2",
    "--score-seeds",
    "2",
    "--score-epoch",
    "1",
    "--threads",
    "1",
    "--device",
    "cpu",
]
VARIES = ["train_seconds", "scoring_seconds", "run_dir"]


def journal(out):
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def table(proc):
    assert proc.returncode == 0, proc.stderr
    return pd.read_parquet(last_json(proc)["results"]).drop(columns=VARIES)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    return table(run_cli(*SWEEP, "--out", out, "--json")), out


def test_sweep_killed_three_times_ends_with_the_uninterrupted_table(uninterrupted, tmp_path):
    expected, straight = uninterrupted
    n_jobs = len(journal(straight)) // 2  # a start and a done per job
    rng = np.random.default_rng(7)
    env = {**os.environ, "COLUMNS": "120"}
    kills = 0
    for gap in rng.integers(1, 10, size=3):  # each run is killed at a random point a moment after a job started
        before = len(journal(tmp_path))
        proc = subprocess.Popen(
            [sys.executable, "-m", "datadiet.cli.main", *SWEEP, "--out", str(tmp_path), "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            events = journal(tmp_path)[before:]
            last = events[-1] if events else {}
            if len(events) >= gap and last["event"] == "start" and last["key"].startswith(("train_", "ckpt_")):
                time.sleep(float(rng.uniform(0, 0.1)))  # somewhere inside that training run
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
    assert kills == 3
    assert len({e["key"] for e in journal(tmp_path) if e["event"] == "done"}) < n_jobs  # not finished yet
    final = run_cli(*SWEEP, "--out", tmp_path, "--json")
    pd.testing.assert_frame_equal(table(final), expected)
    events = journal(tmp_path)
    done = Counter(e["key"] for e in events if e["event"] == "done")
    assert set(done) == {e["key"] for e in journal(straight)}  # every job finished ...
    assert set(done.values()) == {1}  # ... exactly once: no finished job ran again
    starts = Counter(e["key"] for e in events if e["event"] == "start")
    assert max(starts.values()) > 1  # and the kills did land inside jobs, which the re-runs finished
    finished_at = {}
    for i, e in enumerate(events):
        if e["event"] == "done":
            finished_at[e["key"]] = i
        else:
            assert e["key"] not in finished_at, f"{e['key']} started again after it finished"


def test_the_same_sweep_under_ray_gives_the_same_table(uninterrupted, tmp_path):
    pytest.importorskip("ray", reason="the ray extra (pip install 'datadiet[ray]')")
    expected, _ = uninterrupted
    # a relative --out: the Ray workers must write where the command means, not where they run
    proc = run_cli(*SWEEP, "--executor", "ray", "--workers", "2", "--out", "runs", "--json", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    got = pd.read_parquet(tmp_path / last_json(proc)["results"]).drop(columns=VARIES)
    pd.testing.assert_frame_equal(got, expected)
    tmp_path = tmp_path / "runs"
    summary = json.loads((next(tmp_path.glob("sweep_*")) / "summary.json").read_text())
    assert summary["executor"] == {
        "executor": "ray",
        "address": None,
        "workers": 2,
        "threads": 1,
        "device": "cpu",
    }
    assert len({e["pid"] for e in journal(tmp_path)}) >= 2  # run by Ray workers, not one process


def test_device_cuda_without_a_gpu_is_one_clear_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = run_cli("train", "digits", "--model", "mlp", "--epochs", "1", "--device", "cuda", "--out", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "device 'cuda' asked for" in proc.stderr
    assert not list(tmp_path.glob("train_*"))
    proc = run_cli("train", "digits", "--model", "mlp", "--epochs", "1", "--device", "tpu", "--out", tmp_path)
    assert proc.returncode == 2 and "unknown device 'tpu'; valid: auto, cpu, cuda" in proc.stderr


def test_ctrl_c_exits_130_with_one_line_saying_how_to_resume(tmp_path):
    """typer turns KeyboardInterrupt into an exit code it returns; the CLI must pass it on, not exit 0. The
    same command then resumes the run from its saved state and says so."""
    args = ("train", "digits", "--model", "mlp", "--epochs", "300", "--out", str(tmp_path))
    # a shell that starts the suite in the background hands its children SIGINT ignored, and Python then
    # never raises KeyboardInterrupt: give the child the default disposition, as an interactive shell does
    proc = subprocess.Popen([sys.executable, "-m", "datadiet.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("train_*/state.pt")) and time.monotonic() < deadline:  # an epoch is saved
        time.sleep(0.1)
    assert not list(tmp_path.glob("train_*/result.json")), "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # The shell reports 130 for both outcomes below. CPython 3.11 sets its "unhandled Ctrl-C" flag when the
    # KeyboardInterrupt lands inside code run by exec() on a string (a dataclass being created by a lazy torch
    # import): even after main() caught it and returned 130, the interpreter then ends itself by SIGINT.
    assert proc.returncode in (INTERRUPTED, -signal.SIGINT), err
    lines = [line for line in err.splitlines() if line.startswith("datadiet:")]
    assert lines == ["datadiet: interrupted; re-run the same command to resume"], err
    assert not list(tmp_path.glob("train_*/result.json"))  # no finished marker for an interrupted run
    again = run_cli(*args, "--json")
    assert again.returncode == 0, again.stderr
    assert last_json(again)["resumed"] == "resumed"
    assert "datadiet: resumed 1 interrupted job(s) where they stopped, reused 0 finished earlier" in again.stderr
    assert "reused 1 finished earlier" in run_cli(*args).stderr


def test_json_output_is_strict_json_without_nan(tmp_path):
    """One seed has no spread between seeds: its agreement is NaN, printed as null."""
    proc = run_cli("score", "digits", "--method", "random", "--seeds", "1", "--no-figures", "--out", tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    out = json.loads(line, parse_constant=refuse)
    assert out["methods"]["random"]["seed_agreement"]["pairwise"] is None


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("127.0.0.1:1", r"nothing answers at Ray address 127\.0\.0\.1:1 \(.*\): is the cluster's head running there\?"),
        ("localhost:99999", r"address must be auto or HOST:PORT with a port in 1\.\.65535, got 'localhost:99999'"),
    ],
)
def test_a_ray_address_that_does_not_answer_fails_in_seconds(tmp_path, address, message):
    """Ray retries a dead address for minutes; the executor checks it first (loopback only here)."""
    t0 = time.monotonic()
    proc = run_cli(
        "sweep", "digits", "--methods", "random", "--fractions", "0", "--epochs", "1", "--model", "mlp",
        "--executor", "ray", "--address", address, "--out", tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and re.search(message, proc.stderr), proc.stderr
    assert time.monotonic() - t0 < 60  # the CLI's own start-up included; Ray alone took minutes
    assert not list(tmp_path.glob("sweep_*/results.parquet"))


def test_a_score_table_is_matched_to_its_dataset_by_fingerprint(tmp_path):
    """A table whose summary.json names another dataset is refused even when its length and labels fit;
    a table that records no dataset needs --unverified-tables."""
    from datadiet.data import load_dataset

    ds = load_dataset("digits")
    x = ds.denormalise(ds.x_train).numpy()
    other = tmp_path / "other.npz"  # the same labels and size, other pixels: another fingerprint
    np.savez(other, x_train=np.flip(x, axis=-1).copy(), y_train=ds.y_train.numpy(),
             x_test=ds.denormalise(ds.x_test).numpy(), y_test=ds.y_test.numpy())  # fmt: skip
    res = last_json(run_cli("score", "digits", "--method", "random", "--seeds", "1", "--no-figures",
                            "--out", tmp_path / "runs", "--json"))  # fmt: skip
    table = res["methods"]["random"]["scores"]
    refusals = (
        ("prune", table, "--keep", "0.5", "--out", tmp_path / "kept.npy", "--dataset", f"npz:{other}"),
        (
            "sweep",
            f"npz:{other}",
            "--methods",
            f"table:{table}",
            "--fractions",
            "0.5",
            "--epochs",
            "1",
            "--out",
            tmp_path / "runs",
        ),  # fmt: skip
    )
    for args in refusals:
        p = run_cli(*args)
        assert p.returncode == 2 and "was made on dataset 'digits' (fingerprint" in p.stderr, p.stderr
        assert p.stderr.strip().count("\n") == 0
    assert not (tmp_path / "kept.npy").exists() and not list((tmp_path / "runs").glob("sweep_*"))

    bare = tmp_path / "mine" / "scores.parquet"  # your own table: nothing records its dataset
    bare.parent.mkdir()
    pd.read_parquet(table).to_parquet(bare)
    p = run_cli("prune", bare, "--keep", "0.5", "--out", tmp_path / "kept.npy", "--dataset", "digits")
    assert p.returncode == 2 and "records no dataset" in p.stderr and "--unverified-tables" in p.stderr
    p = run_cli("prune", bare, "--keep", "0.5", "--out", tmp_path / "kept.npy", "--dataset", "digits",
                "--unverified-tables", "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    side = json.loads((tmp_path / "kept.npy.json").read_text())
    assert side["table_verified"] is False and side["dataset"]["name"] == "digits"
    # a table with a NaN score is refused when the sweep is planned, before its full-data training runs
    nan = tmp_path / "nan" / "scores.parquet"
    nan.parent.mkdir()
    t = pd.read_parquet(table)
    t.loc[3, "score"] = np.nan
    t.to_parquet(nan)
    p = run_cli("sweep", "digits", "--methods", f"table:{nan}", "--fractions", "0.5", "--epochs", "1",
                "--unverified-tables", "--out", tmp_path / "runs2")  # fmt: skip
    assert p.returncode == 2 and "has 1 score(s) that are NaN or infinite (the first at index 3)" in p.stderr
    assert not list((tmp_path / "runs2").glob("train_*"))

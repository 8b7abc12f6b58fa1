import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.cli.conftest import last_json, run_cli


def test_datasets_and_models_json():
    d = last_json(run_cli("datasets", "--json"))
    assert "fashion-mnist" in [r["name"] for r in d["datasets"]]
    m = last_json(run_cli("models", "--json"))
    assert [r["name"] for r in m["models"]] == ["mlp", "cnn", "resnet18", "resnet1d"]


def test_train_digits_mlp(tmp_path):
    p = run_cli("train", "digits", "--model", "mlp", "--epochs", "5", "--json", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    out = last_json(p)
    assert out["test_accuracy"] >= 0.90
    assert len(out["per_class_accuracy"]) == 10
    assert os.path.isdir(out["run_dir"]) and out["resumed"] == "new"
    again = last_json(run_cli("train", "digits", "--model", "mlp", "--epochs", "5", "--json", "--out", tmp_path))
    assert again["resumed"] == "finished earlier" and again["test_accuracy"] == out["test_accuracy"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "imagenet"], "unknown dataset 'imagenet'; valid:"),
        (["train", "digits", "--model", "vit"], "unknown model 'vit'; valid: mlp, cnn, resnet18"),
        (["train", "digits", "--epochs", "0"], "epochs must be > 0, got 0"),
        (["train", "digits", "--epochs", "-3"], "epochs must be > 0, got -3"),
        (["train", "digits", "--label-noise", "1.5"], "--label-noise must be in [0, 1], got 1.5"),
        (["train", "npz:/does/not/exist.npz"], "npz file not found"),
        (["train", "mnist"], "mnist needs --data-dir"),
        (["train", "digits", "--bogus"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    p = run_cli(*args, "--out", tmp_path)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    assert not any(tmp_path.rglob("result.json"))


def test_malformed_npz(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((4, 3)), y_train=np.zeros(4, int))
    p = run_cli("train", f"npz:{bad}", "--out", tmp_path)
    assert p.returncode == 2 and "lacks arrays x_test, y_test" in p.stderr


def test_kill_and_resume_matches_uninterrupted(tmp_path):
    args = ["train", "mnist1d", "--samples", "4000", "--model", "cnn", "--epochs", "6", "--batch-size", "32", "--json"]
    ref = last_json(run_cli(*args, "--out", tmp_path / "ref"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "datadiet.cli.main", *args, "--out", str(tmp_path / "killed")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    state = None
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "killed").glob("train_*/state.pt"))
        if found:
            state = found[0]
            break
        time.sleep(0.05)
    assert state is not None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list((tmp_path / "killed").glob("train_*/result.json"))
    resumed = last_json(run_cli(*args, "--out", tmp_path / "killed"))
    assert resumed["resumed"] == "resumed"
    assert resumed["test_accuracy"] == ref["test_accuracy"]
    assert resumed["per_class_accuracy"] == ref["per_class_accuracy"]


@pytest.mark.parametrize(
    "names, message",
    [
        (
            ["a", "b", "c"],
            "group_names must give one name per group of g_train/g_test (2 groups, ids 0..1), got 3 names",
        ),
        (["a"], "group_names must give one name per group of g_train/g_test (2 groups, ids 0..1), got 1 name"),
        (None, "group_names needs the groups it names: give g_train and g_test too"),
    ],
)
def test_npz_group_names_must_name_each_group(tmp_path, names, message):
    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    arrays = dict(x_train=rng.normal(size=(20, 3)), y_train=y, x_test=rng.normal(size=(6, 3)), y_test=y[:6])
    if names is None:  # names without the groups they name
        arrays["group_names"] = np.array(["a", "b"])
    else:
        arrays.update(g_train=y, g_test=y[:6], group_names=np.array(names))
    bad = tmp_path / "grouped.npz"
    np.savez(bad, **arrays)
    p = run_cli("train", f"npz:{bad}", "--model", "mlp", "--epochs", "1", "--out", tmp_path / "runs")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [f"datadiet: error: {message}"], p.stderr

"""Two processes on the same run directory at once: one trains, the other waits and reuses it."""

import json
import os
import subprocess
import sys
from pathlib import Path

from datadiet.runs import RunDir


def test_second_holder_of_a_run_dir_waits(tmp_path):
    rd = RunDir(tmp_path, "train", {"a": 1}).create()
    script = (
        "import sys, time; from datadiet.runs import RunDir\n"
        f"rd = RunDir({str(tmp_path)!r}, 'train', {{'a': 1}}).create()\n"
        "t = time.monotonic()\n"
        "with rd.lock():\n    print(round(time.monotonic() - t, 2))\n"
    )
    with rd.lock():
        p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            p.wait(timeout=1.5)
            raise AssertionError("the second process got a lock that was held")
        except subprocess.TimeoutExpired:
            pass
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and float(out) >= 1.0
    assert f"{rd.path} is in use by another process (pid {os.getpid()}); waiting for it" in err


def test_two_trainings_of_the_same_run_at_once_train_it_once(tmp_path):
    args = [
        sys.executable,
        "-m",
        "datadiet.cli.main",
        "train",
        "digits",
        "--model",
        "mlp",
        "--epochs",
        "80",
        "--json",
        "--out",
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert sorted(r["resumed"] for r in results) == ["finished earlier", "new"]  # trained once
    assert results[0]["test_accuracy"] == results[1]["test_accuracy"]
    assert len(list(Path(tmp_path).glob("train_*"))) == 1
    assert any("in use by another process" in e for _, e in outs)

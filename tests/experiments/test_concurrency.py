"""Two processes on the same run directory at once: one trains, the other waits and reuses it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from datadiet.runs import RunDir


def test_second_holder_of_a_run_dir_waits(tmp_path):
    rd = RunDir(tmp_path, "train", {"a": 1}).create()
    script = (
        "import time; from datadiet.runs import RunDir\n"
        f"rd = RunDir({str(tmp_path)!r}, 'train', {{'a': 1}}).create()\n"
        "with rd.lock():\n    print(time.monotonic())\n"
    )
    err_path = tmp_path / "stderr.txt"
    with rd.lock(), open(err_path, "w") as err:
        p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 120
        while "waiting for it" not in err_path.read_text() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        released = time.monotonic()
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    assert f"{rd.path} is in use by another process (pid {os.getpid()}); waiting for it" in err_path.read_text()
    assert float(out) >= released  # it got the lock only once this process let go


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
        "200",
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

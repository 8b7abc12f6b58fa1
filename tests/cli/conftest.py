import json
import os
import subprocess
import sys

import pytest


def run_cli(*args, cwd=None, timeout=300):
    """Run ``datadiet ARGS`` in a subprocess; returns the CompletedProcess."""
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "datadiet.cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=env)


def last_json(proc):
    lines = [l for l in proc.stdout.strip().splitlines() if l.strip()]
    assert lines, proc.stderr
    return json.loads(lines[-1])


@pytest.fixture
def cli():
    return run_cli

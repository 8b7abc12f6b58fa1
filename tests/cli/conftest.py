import json
import os
import subprocess
import sys

import pytest


def run_cli(*args, cwd=None, timeout=300, env=None):
    """Run ``datadiet ARGS`` in a subprocess (``env``: extra variables); returns the CompletedProcess."""
    env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "datadiet.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )


def last_json(proc):
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    assert lines, proc.stderr
    return json.loads(lines[-1])


@pytest.fixture
def cli():
    return run_cli

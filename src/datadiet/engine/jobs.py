"""Jobs: frozen, hashable units of work, each with its own run directory.

A job's fields hold everything that changes its result (the dataset's spec and content fingerprint,
the model and hyperparameters, seeds, and the jobs whose outputs it reads), so any process, a Ray
worker included, rebuilds all it needs from the job alone. ``key()`` is the name of its run
directory (``<kind>_<hash of config()>``) under the output root; ``run()`` does the work there.

:func:`run_job` is the one place that decides whether a job runs: a job whose marker file (written
atomically, last) exists is finished and never runs again; otherwise the job runs under its run
directory's lock, resuming whatever an interrupted attempt left. Every start and finish is appended
to ``OUT/journal.jsonl``, so what ran, and how often, can be checked afterwards.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from datadiet.defaults import DEFAULT_DEVICE
from datadiet.errors import DataDietError
from datadiet.runs import RunDir, atomic_write_json, config_hash, read_json
from datadiet.training.device import resolve_device

ProgressFactory = Callable[[str], Callable[[int, int], None]]
JOURNAL = "journal.jsonl"


@dataclass(frozen=True)
class Context:
    """Where and how jobs run: the output root, the torch device, and (in-process only) progress bars
    and ``scoring``: a :class:`~datadiet.engine.sharded.ShardedScoring` that scoring jobs hand their
    model-based scoring passes to (None: scored in the job's process). Neither changes a result."""

    out: Path
    device: str = DEFAULT_DEVICE
    progress: ProgressFactory | None = field(default=None, compare=False, repr=False)
    scoring: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "device", resolve_device(self.device))  # "auto" becomes the device it means

    def without_progress(self) -> Context:
        return replace(self, progress=None, scoring=None)

    def bar(self, description: str) -> Callable[[int, int], None] | None:
        return self.progress(description) if self.progress is not None else None

    def journal(self, event: str, job: Job, **extra) -> None:
        """Append one line to ``OUT/journal.jsonl`` (a single ``O_APPEND`` write: lines never interleave)."""
        line = json.dumps({"event": event, "key": job.key(), "pid": os.getpid(), "time": time.time(), **extra})
        self.out.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.out / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


class Job:
    """Base of every job: a frozen dataclass with ``kind``, ``config()``, ``run()`` and ``deps()``.

    ``run(rd, ctx)`` does the work in the (locked) run directory ``rd`` and returns the summary that
    :func:`run_job` writes to ``marker``, atomically and last. ``cleanup(rd)`` runs after that (e.g.
    to drop a resume state that is no longer needed).
    """

    kind: ClassVar[str] = "job"
    marker: ClassVar[str] = "result.json"

    def config(self) -> dict:  # pragma: no cover - every job defines it
        raise NotImplementedError

    def deps(self) -> tuple[Job, ...]:
        return ()

    def describe(self) -> str:
        return self.key()

    def run(self, rd: RunDir, ctx: Context) -> dict:  # pragma: no cover
        raise NotImplementedError

    def cleanup(self, rd: RunDir) -> None:
        pass

    def check(self) -> None:
        """Checks of what the user supplied, run in the planning process for every job before any job
        starts (cheap; none by default)."""

    @cached_property
    def _key(self) -> str:
        return f"{self.kind}_{config_hash(self.config())}"

    def key(self) -> str:
        return self._key

    def rundir(self, out: str | os.PathLike) -> RunDir:
        rd = RunDir(out, self.kind, self.config())
        if rd.path.name != self.key():  # pragma: no cover - the two hashes are one function
            raise DataDietError(f"job key {self.key()} does not match its run directory {rd.path}")
        return rd

    def path(self, out: str | os.PathLike) -> Path:
        return Path(out) / self.key()

    def is_done(self, out: str | os.PathLike) -> bool:
        return (self.path(out) / self.marker).exists()

    def result(self, out: str | os.PathLike) -> dict:
        """The summary of a finished job."""
        return read_json(self.path(out) / self.marker)


def run_job(job: Job, ctx: Context) -> dict:
    """Run ``job`` unless it is finished; returns its summary with ``resumed`` = ``"finished earlier"``,
    ``"resumed"`` (an interrupted attempt was picked up) or ``"new"``."""
    rd = job.rundir(ctx.out)
    marker = rd.file(job.marker)
    if marker.exists():
        return {**read_json(marker), "resumed": "finished earlier"}
    job.check()
    rd.create()
    with rd.lock():
        if marker.exists():  # another process finished it while we waited for the lock
            return {**read_json(marker), "resumed": "finished earlier"}
        ctx.journal("start", job)
        summary = job.run(rd, ctx)
        status = summary.pop("resumed", "new")
        atomic_write_json(marker, summary)
        ctx.journal("done", job)
        job.cleanup(rd)
    return {**summary, "resumed": status}


def closure(jobs: Iterable[Job]) -> list[Job]:
    """The jobs and everything they depend on, de-duplicated by key, dependencies first."""
    seen: dict[str, Job] = {}

    def visit(j: Job, path: tuple[str, ...]) -> None:
        k = j.key()
        if k in path:  # pragma: no cover - job specs cannot refer to themselves
            raise DataDietError(f"job {k} depends on itself")
        if k in seen:
            return
        for d in j.deps():
            visit(d, (*path, k))
        seen[k] = j

    for j in jobs:
        visit(j, ())
    return list(seen.values())


def levels(jobs: Iterable[Job]) -> list[list[Job]]:
    """Jobs grouped so that each group depends only on earlier groups (run each group in parallel)."""
    depth: dict[str, int] = {}
    for j in closure(jobs):  # dependencies come first
        depth[j.key()] = 1 + max((depth[d.key()] for d in j.deps()), default=-1)
    out: list[list[Job]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for j in closure(jobs):
        out[depth[j.key()]].append(j)
    return out

"""The one runner every experiment goes through: plan -> executor -> collect -> write.

An experiment (:class:`Experiment`) is a spec: :meth:`~Experiment.plan` lists the jobs it needs,
:meth:`~Experiment.collect` reads the finished jobs back into tables, and
:meth:`~Experiment.report` draws its figures and writes its report from those tables.
:func:`run_experiment` does the rest the same way for all of them: it hands the jobs to an executor
(finished ones are skipped, interrupted ones resume), writes each table as ``NAME.parquet`` in the
experiment's folder, then the figures and report, then ``summary.json`` last (so a folder with a
``summary.json`` is complete).

A plan may depend on finished work (the lottery study chooses its second phase by the gate's
result): the runner plans again after each round of jobs and stops when a plan holds nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from datadiet.defaults import DEFAULT_DEVICE
from datadiet.engine.executors import InProcess
from datadiet.engine.jobs import Context, Job, ProgressFactory, closure, levels
from datadiet.runs import atomic_write_json, atomic_write_parquet, runtime_info, to_jsonable


def run_jobs(jobs: Sequence[Job], *, ctx: Context, executor: Any = None) -> dict[str, dict]:
    """Run ``jobs`` and their dependencies through ``executor`` (in-process by default); ``{key: summary}``.

    Executors with a ``run_graph(jobs, ctx)`` start each job as soon as the jobs it reads are done;
    others run the jobs level by level with ``map``.
    """
    executor = executor or InProcess()
    everything = closure(jobs)
    for job in everything:
        job.check()  # e.g. a user's model on one batch: a bad factory fails here, before any job runs
    if hasattr(executor, "run_graph"):
        return executor.run_graph(everything, ctx)
    results: dict[str, dict] = {}
    for level in levels(jobs):
        for j, r in zip(level, executor.map(level, ctx)):
            results[j.key()] = r
    return results


class Experiment(Protocol):
    """What users run (score, sweep, lottery, lmc, the studies), as a spec the runner carries out."""

    def plan(self, out: Path) -> list[Job]:
        """Every job the experiment needs, given what is finished under ``out`` (most plans ignore it)."""
        ...

    def folder(self, out: Path) -> Path:
        """Where the tables, figures, report and summary go."""
        ...

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        """The experiment's tables, read from its finished jobs (``results`` first, by convention)."""
        ...

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        """What ``summary.json`` says of this experiment besides what the runner adds."""
        ...

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict[str, Any]:
        """Draw the figures and write the report from finished tables; the entries it adds to the summary
        (e.g. ``{"figures": {...}, "report": path}``)."""
        ...


@dataclass
class ExperimentResult:
    """A finished experiment: its tables (as written), folder and summary."""

    experiment: Any
    tables: dict[str, pd.DataFrame]
    folder: Path
    summary: dict = field(default_factory=dict)

    @property
    def results(self) -> pd.DataFrame:
        return self.tables["results"]

    @property
    def figures(self) -> dict[str, str]:
        return self.summary.get("figures") or {}


RESUME_STATES = ("new", "resumed", "finished earlier")  # what run_job says of each job it was given


def execute(experiment: Experiment, ctx: Context, executor: Any) -> tuple[list[Job], dict[str, int]]:
    """Plan and run until a plan holds nothing new; every job planned (de-duplicated by key), and how
    many of them ran anew, resumed an interrupted attempt, or had finished earlier."""
    planned: dict[str, Job] = {}
    states: dict[str, str] = {}
    while True:
        jobs = closure(experiment.plan(ctx.out))
        if all(j.key() in planned for j in jobs):
            counts = {s: sum(v == s for v in states.values()) for s in RESUME_STATES}
            return list(planned.values()), counts
        planned.update((j.key(), j) for j in jobs)
        for key, result in run_jobs(jobs, ctx=ctx, executor=executor).items():
            states.setdefault(key, result.get("resumed", "new"))


def run_experiment(
    experiment: Experiment,
    *,
    out: str | Path,
    executor: Any = None,
    device: str = DEFAULT_DEVICE,
    progress: ProgressFactory | None = None,
    command: str | None = None,
) -> ExperimentResult:
    """Run (or resume) ``experiment`` under ``out``: its jobs through ``executor`` (in-process by
    default) on ``device``, then its tables, figures, report and ``summary.json`` (last)."""
    executor = executor or InProcess()
    ctx = Context(out, device=device, progress=progress, scoring=getattr(executor, "scoring", None))
    t0 = time.perf_counter()
    jobs, resume = execute(experiment, ctx, executor)
    seconds = time.perf_counter() - t0
    tables = experiment.collect(ctx.out)
    folder = experiment.folder(ctx.out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: atomic_write_parquet(folder / f"{name}.parquet", t) for name, t in tables.items()}
    summary = to_jsonable(
        {
            **experiment.summary(tables, ctx.out),
            **{name: str(p) for name, p in paths.items()},
            "command": command,
            "runtime": runtime_info(),
            "executor": {**executor.describe(), "device": ctx.device},
            "jobs": len(jobs),
            "resume": resume,
            "seconds": seconds,
        }
    )
    summary.update(to_jsonable(experiment.report(tables, summary, folder)))
    atomic_write_json(folder / "summary.json", summary)
    return ExperimentResult(experiment, tables, folder, summary)

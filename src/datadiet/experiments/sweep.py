"""The data-diet sweep: score once per method, prune to each fraction, train S seeds, evaluate.

A sweep is plan → run → collect. :meth:`SweepSpec.plan` lists its jobs without running anything:
per scored method a :class:`ScoreJob` (on one :class:`CheckpointJob` per scoring seed, shared by the
methods scored at the same epoch), per pruned cell a :class:`SelectJob` and a :class:`TrainJob`, and
the full-data :class:`TrainJob` of each seed, which every method shares (one key, planned once). An
executor runs them level by level, skipping finished ones, so an interrupted sweep resumes job by
job; :meth:`SweepSpec.collect` reads the rows back from the run directories.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.data.groups import group_accuracy
from datadiet.defaults import DEFAULT_CCS_BINS, DEFAULT_SCORE_EPOCH
from datadiet.errors import DataDietError
from datadiet.experiments.executors import InProcess
from datadiet.experiments.jobs import Context, DatasetSpec, Job, ProgressFactory, as_spec, closure, run_jobs
from datadiet.experiments.scoring import TABLE_PREFIX, ScoreConfig, ScoreJob, TableScoreJob
from datadiet.experiments.selection import SelectJob
from datadiet.experiments.training import TrainJob, load_test_predictions
from datadiet.models import check_model
from datadiet.plots import accuracy_vs_flops, accuracy_vs_fraction, compute_dividend, per_class_change
from datadiet.reports import describe_setup
from datadiet.runs import RunDir, atomic_write_json, atomic_write_parquet, config_hash, runtime_info, to_jsonable
from datadiet.scores import parse_method
from datadiet.selection import STRATEGIES
from datadiet.tables import (
    class_changes,
    class_count,
    compute_points,
    flops_points,
    fraction_points,
    middle_fraction,
    pruned_flops_known,
)
from datadiet.training import TrainConfig
from datadiet.training.dynamic import DYNAMIC_PRUNERS, DynamicPruning
from datadiet.validation import check_choice, check_epoch, check_fraction, check_positive_float, check_positive_int

BUDGETS = ("epochs", "steps")


@dataclass(frozen=True)
class SweepConfig:
    """A sweep. ``fractions`` are fractions of the training set PRUNED (0 = full data).

    ``budget="epochs"``: every subset trains ``train.epochs`` passes over itself (pruning saves
    compute). ``budget="steps"``: every subset trains as many optimiser steps as the full data (the
    paper's equal-steps comparison). ``methods`` are names or ``METHOD@T`` (see
    :func:`datadiet.scores.parse_method`): model-based scores at ``score_epoch`` (fractional epochs
    allowed), forgetting and AUM counted over the whole schedule; ``rs2`` and ``infobatch`` prune
    dynamically inside each training run (:mod:`datadiet.training.dynamic`), their fraction being the
    fraction of training compute saved in expectation. ``score_model`` / ``score_width`` score with a
    proxy (Coleman et al. 2020, "Selection via Proxy"): a cheaper model, or the same one narrower, on
    the same schedule; by default the scoring model is the trained one. ``hard_cutoff`` and ``bins``
    are the ``ccs`` strategy's.
    """

    methods: tuple[str, ...] = ("random", "el2n", "grand")
    fractions: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7)
    seeds: int = 1
    train: TrainConfig = field(default_factory=TrainConfig)
    score_epoch: int | float = DEFAULT_SCORE_EPOCH
    score_seeds: int = 2
    score_model: str | None = field(default=None, metadata={"omit_default": True})
    score_width: float | None = field(default=None, metadata={"omit_default": True})
    budget: str = "epochs"
    strategy: str = "hardest"
    offset: float = 0.0
    balanced: bool = False
    hard_cutoff: float = 0.0
    bins: int = DEFAULT_CCS_BINS

    def __post_init__(self):
        if not self.methods:
            raise DataDietError("methods must list at least one method")
        object.__setattr__(self, "score_epoch", check_epoch("score_epoch", self.score_epoch))
        if self.score_model is not None:
            object.__setattr__(self, "score_model", check_model(self.score_model, "score_model"))
        if self.score_width is not None:
            object.__setattr__(self, "score_width", check_positive_float("score_width", self.score_width))
        for m in self.methods:
            if m in DYNAMIC_PRUNERS:
                if self.budget == "steps":
                    raise DataDietError(
                        f"method {m!r} prunes inside each run to save compute, so it needs budget 'epochs', got 'steps'"
                    )
            elif not m.startswith(TABLE_PREFIX):
                self.score_config(m)  # validates the name and its epoch
            elif len(m) == len(TABLE_PREFIX):
                raise DataDietError("method 'table:' needs a path, e.g. table:runs/lmcrun_<hash>/scores.parquet")
        if len(set(self.methods)) != len(self.methods):
            raise DataDietError(f"methods must not repeat, got {','.join(self.methods)}")
        if not self.fractions:
            raise DataDietError("fractions must list at least one fraction")
        fr = tuple(check_fraction("fraction", f, allow_one=False) for f in self.fractions)
        object.__setattr__(self, "fractions", tuple(sorted(set(fr))))
        check_positive_int("seeds", self.seeds)
        check_positive_int("score_seeds", self.score_seeds)
        check_choice("budget", self.budget, BUDGETS)
        check_choice("strategy", self.strategy, STRATEGIES)
        check_fraction("offset", self.offset, allow_one=False)
        check_fraction("hard_cutoff", self.hard_cutoff, allow_one=False)
        check_positive_int("bins", self.bins)
        if self.offset and self.strategy != "window":
            raise DataDietError(
                f"offset applies only to strategy 'window', got offset={self.offset} with {self.strategy!r}"
            )
        if self.hard_cutoff and self.strategy != "ccs":
            raise DataDietError(
                f"hard_cutoff applies only to strategy 'ccs', got hard_cutoff={self.hard_cutoff} with {self.strategy!r}"
            )

    def score_config(self, method: str) -> ScoreConfig:
        """``METHOD`` scores at ``score_epoch`` (forgetting, AUM: over the whole schedule); ``METHOD@T``
        at epoch T (e.g. ``grand@0``: at initialisation)."""
        name, t = parse_method(method, score_epoch=self.score_epoch)
        return ScoreConfig(method=name, epoch=t, seeds=tuple(range(self.score_seeds)), train=self.score_train())

    def score_train(self) -> TrainConfig:
        """The scoring runs' training config: the trained model's, or the proxy's (``score_model`` at
        ``score_width``, default width 1; the trained model at ``score_width``)."""
        if self.score_model is None and self.score_width is None:
            return self.train
        model = self.score_model or self.train.model
        width = (
            self.score_width
            if self.score_width is not None
            else (1.0 if model != self.train.model else self.train.width)
        )
        return replace(self.train, model=model, width=width)


@dataclass
class SweepResult:
    config: SweepConfig
    results: pd.DataFrame
    path: Path
    results_path: Path
    figures: dict[str, str]

    def full_data_accuracy(self) -> float | None:
        """Mean test accuracy of the full-data runs (None if the sweep has none)."""
        full = self.results.loc[self.results["fraction"] == 0, "test_accuracy"]
        return float(full.mean()) if len(full) else None

    def accuracy(self) -> dict[str, dict[str, float]]:
        """``{method: {fraction: mean test accuracy over seeds}}``."""
        pivot = self.results.groupby(["method", "fraction"])["test_accuracy"].mean().unstack("fraction")
        return {m: {str(f): float(v) for f, v in row.items()} for m, row in pivot.iterrows()}

    def overview(self) -> dict:
        """What ``datadiet sweep --json`` prints (the report's path is added by the caller)."""
        return {
            "results": str(self.results_path),
            "plot": self.figures["accuracy"],
            "figures": self.figures,
            "full_data_accuracy": self.full_data_accuracy(),
            "run_dir": str(self.path),
            "accuracy": self.accuracy(),
            **self.worst_group(),
        }

    def worst_group(self) -> dict:
        """``{"worst_group_accuracy": {method: {fraction: mean}}}`` when the data has groups, else ``{}``."""
        if "worst_group_accuracy" not in self.results.columns:
            return {}
        pivot = self.results.groupby(["method", "fraction"])["worst_group_accuracy"].mean().unstack("fraction")
        return {"worst_group_accuracy": {m: {str(f): float(v) for f, v in r.items()} for m, r in pivot.iterrows()}}


@dataclass(frozen=True)
class Cell:
    """One (method, fraction, seed) training run of a sweep. Full-data cells of every method have the
    same training config, hence the same run directory: they are one run, trained once."""

    method: str
    fraction: float
    seed: int
    train: TrainConfig


def plan_cells(cfg: SweepConfig, n_full: int) -> list[Cell]:
    """Every cell of a sweep, in run order (pure: no scores, no files)."""
    cells = []
    for m in cfg.methods:
        for f in cfg.fractions:
            for seed in range(cfg.seeds):
                tcfg = cfg.train.with_seed(seed)
                if cfg.budget == "steps" and f > 0:  # as many optimiser steps as the full data
                    tcfg = replace(tcfg, steps=cfg.train.total_steps(n_full))
                cells.append(Cell(method=m, fraction=f, seed=seed, train=tcfg))
    return cells


@dataclass(frozen=True)
class SweepSpec:
    """A sweep on a dataset: ``plan()`` its jobs (pure), run them anywhere, ``collect()`` the rows."""

    data: DatasetSpec
    config: SweepConfig

    def key(self) -> str:
        return f"sweep_{config_hash(self.rundir_config())}"

    def rundir_config(self) -> dict:
        cfg = {"dataset": self.data.key(), "sweep": self.config}
        if self.data.groups is not None:  # the table gets that grouping's columns
            cfg["groups"] = self.data.groups
        return cfg

    def score_job(self, method: str) -> ScoreJob | TableScoreJob | None:
        """The scoring job of a method (None for random and dynamic pruning; ``table:PATH`` reads a
        score table)."""
        if method == "random" or method in DYNAMIC_PRUNERS:
            return None
        if method.startswith(TABLE_PREFIX):
            return TableScoreJob.of(self.data, method[len(TABLE_PREFIX) :])
        return ScoreJob(self.data, self.config.score_config(method))

    def cell_job(self, cell: Cell) -> TrainJob:
        """The training job of a cell: full data, or the subset its selection job keeps."""
        if cell.fraction == 0:
            return TrainJob(self.data, cell.train)
        cfg = self.config
        keep = 1.0 - cell.fraction
        if cell.method in DYNAMIC_PRUNERS:
            return TrainJob(self.data, cell.train, dynamic=DynamicPruning(cell.method, cell.fraction))
        if cell.method == "random":
            sel = SelectJob(self.data, keep=keep, strategy="random", seed=cell.seed, balanced=cfg.balanced)
        else:
            sel = SelectJob(
                self.data,
                keep=keep,
                strategy=cfg.strategy,
                seed=cell.seed,
                balanced=cfg.balanced,
                offset=cfg.offset,
                hard_cutoff=cfg.hard_cutoff,
                bins=cfg.bins,
                scores=self.score_job(cell.method),
            )
        return TrainJob(self.data, cell.train, sel)

    def plan(self, n_full: int | None = None) -> tuple[list[Cell], list[Job]]:
        """Every cell and every job the sweep needs, de-duplicated by key, dependencies first (pure
        given the number of training examples, which equal-steps budgets need)."""
        n = self.data.load().num_train if n_full is None else n_full
        cells = plan_cells(self.config, n)
        jobs = [self.cell_job(c) for c in cells]
        jobs += [j for m in self.config.methods if (j := self.score_job(m)) is not None]
        return cells, closure(jobs)

    def collect(self, cells: list[Cell], out: str | Path) -> pd.DataFrame:
        """One row per cell, read from the finished jobs' run directories.

        Compute is given in examples, seconds and FLOPs (:func:`datadiet.models.flops.flops_per_example`):
        training examples cost a forward and a backward pass; a scoring run's training the same; its
        scoring pass a forward (EL2N, loss, margins) or a forward and a backward (GraNd).
        ``flops_vs_full`` is a cell's training plus scoring FLOPs over one full-data training run's.
        """
        from datadiet.models.flops import flops_per_example

        ds = self.data.load()
        t, st = self.config.train, self.config.score_train()

        def fpe(cfg: TrainConfig, backward: bool) -> float:
            return flops_per_example(
                cfg.model, tuple(ds.input_shape), ds.num_classes, width=cfg.width, backward=backward
            )

        train_flops = fpe(t, True)
        score_train_flops, score_forward_flops = fpe(st, True), fpe(st, False)
        full_flops = t.epochs * ds.num_train * train_flops
        rows = []
        for cell in cells:
            job = self.cell_job(cell)
            summary = job.result(out)
            pruned = cell.fraction > 0
            score = self.score_job(cell.method) if pruned else None
            cost = score.result(out)["cost"] if score is not None else _NO_COST
            runtime = summary.get("runtime") or {}
            row = {
                "method": cell.method,
                "fraction": cell.fraction,
                "seed": cell.seed,
                "budget": self.config.budget,
                "scored_at": _scored_at(cell.method, score) if pruned else "",
                "train_size": summary["train_size"],
                "test_accuracy": summary["test_accuracy"],
                "steps": summary["steps"],
                "scoring_examples": float(cost["train_examples"] + cost["score_examples"]) if pruned else 0.0,
                "scoring_seconds": float(cost["train_seconds"] + cost["score_seconds"]) if pruned else 0.0,
                "train_examples": float(summary["examples_seen"]),
                "train_seconds": float(summary["seconds"]),
                "run_dir": str(job.path(out)),
                "torch": runtime.get("torch"),
                "threads": runtime.get("threads"),
                "cpu": runtime.get("cpu_capability"),
            }
            score_pass = (
                score_train_flops
                if getattr(score, "score", None) is not None and score.score.method == "grand"
                else score_forward_flops
            )
            row["train_flops"] = row["train_examples"] * train_flops
            row["scoring_flops"] = (
                float(cost["train_examples"]) * score_train_flops + float(cost["score_examples"]) * score_pass
                if pruned
                else 0.0
            )
            row["flops_vs_full"] = (row["train_flops"] + row["scoring_flops"]) / full_flops
            for k, a in enumerate(summary["per_class_accuracy"]):
                row[f"class_{k}_accuracy"] = a
            if ds.g_test is not None:  # who pays: accuracy within each group, and the worst group's
                pred = load_test_predictions(job, out, ds)
                accs = group_accuracy(pred, ds.y_test.numpy(), ds.g_test, len(ds.group_names))
                for g, a in enumerate(accs):
                    row[f"group_{g}_accuracy"] = a
                row["worst_group_accuracy"] = float(np.nanmin(accs))
            rows.append(row)
        return pd.DataFrame(rows)


def _scored_at(method: str, score) -> str:
    if score is not None:
        return score.scored_at
    return "dynamic, no scores" if method in DYNAMIC_PRUNERS else "no scores"


_NO_COST = {"train_examples": 0, "train_seconds": 0.0, "score_examples": 0, "score_seconds": 0.0}


def run_sweep(
    dataset: Dataset | DatasetSpec,
    cfg: SweepConfig,
    *,
    out: str | Path,
    progress: ProgressFactory | None = None,
    command: str | None = None,
    executor=None,
    device: str = "cpu",
) -> SweepResult:
    """Run (or resume) a sweep; writes ``OUT/sweep_<hash>/results.parquet`` and its figures.

    Plans every job, runs them level by level through ``executor`` (in-process by default; see
    :mod:`datadiet.experiments.executors`), skipping those finished earlier, then collects the rows.
    """
    out = Path(out)
    spec = SweepSpec(as_spec(dataset), cfg)
    ds = spec.data.load()
    rd = RunDir(out, "sweep", spec.rundir_config()).create()
    cells, jobs = spec.plan(ds.num_train)
    executor = executor or InProcess()
    run_jobs(jobs, ctx=Context(out, device=device, progress=progress), executor=executor)
    results = spec.collect(cells, out)
    results_path = rd.file("results.parquet")
    atomic_write_parquet(results_path, results)
    scored = {m: _scored_at(m, spec.score_job(m)) for m in cfg.methods}
    summary = to_jsonable(
        {
            "dataset": spec.data.key(),
            "class_names": list(ds.class_names),
            "group_names": list(ds.group_names),
            "groups": spec.data.groups or ("given with the data" if ds.g_test is not None else None),
            "num_train": ds.num_train,
            "config": cfg,
            "results": str(results_path),
            "command": command,
            "runtime": runtime_info(),
            "executor": {**executor.describe(), "device": device},
            "jobs": len(jobs),
            "scored_at": scored,
        }
    )
    summary["figures"] = sweep_figures(results, summary, rd.path)
    atomic_write_json(rd.file("summary.json"), summary)
    return SweepResult(config=cfg, results=results, path=rd.path, results_path=results_path, figures=summary["figures"])


def sweep_figures(results: pd.DataFrame, summary: dict, folder: Path) -> dict[str, str]:
    """Draw the sweep's figures into ``folder`` from its tables (:mod:`datadiet.tables`); returns ``{key: path}``.

    ``summary`` is the sweep's ``summary.json`` dict (class names from ``summary["class_names"]``);
    every figure's subtitle is :func:`datadiet.reports.describe_setup` of it, so each says the
    budget and the schedule.
    """
    if not isinstance(summary, dict):  # the old signature passed the class names here
        summary = {"class_names": list(summary or [])}
    folder = Path(folder)
    setup = describe_setup(summary, results)
    names = list(summary.get("class_names") or [])
    k = class_count(results)
    if len(names) < k:
        names += [f"class {i}" for i in range(len(names), k)]
    figs = {
        "accuracy": str(
            accuracy_vs_fraction(fraction_points(results), folder / "accuracy_vs_fraction.png", subtitle=setup)
        )
    }
    target = middle_fraction(results)
    if target is not None and (results["fraction"] == 0).any():
        if k:
            changes = class_changes(results, target)
            figs["per_class"] = str(per_class_change(changes, names, folder / "per_class_change.png", subtitle=setup))
        if {"scoring_examples", "train_examples"} <= set(results.columns):
            figs["compute"] = str(
                compute_dividend(compute_points(results), folder / "compute_dividend.png", subtitle=setup)
            )
        if pruned_flops_known(results):  # older tables have no FLOPs: no figure
            figs["pareto"] = str(
                accuracy_vs_flops(flops_points(results), folder / "accuracy_vs_flops.png", subtitle=setup)
            )
    return figs

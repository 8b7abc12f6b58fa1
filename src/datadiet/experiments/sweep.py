"""The data-diet sweep: score once per method, prune to each fraction, train S seeds, evaluate.

A sweep is an experiment (:mod:`datadiet.engine.runner`): :meth:`SweepSpec.plan` lists its jobs without running anything:
per scored method a :class:`ScoreJob` (on one :class:`CheckpointJob` per scoring seed, shared by the
methods scored at the same epoch), per pruned cell a :class:`SelectJob` and a :class:`TrainJob`, and
the full-data :class:`TrainJob` of each seed, which every method shares (one key, planned once). An
executor runs them, skipping finished ones, so an interrupted sweep resumes job by job;
:meth:`SweepSpec.collect` reads the rows back from the run directories and :meth:`SweepSpec.report`
draws the figures and writes ``report.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.data.groups import group_accuracy
from datadiet.data.split import dataset_description
from datadiet.defaults import DEFAULT_CCS_BINS, DEFAULT_DEVICE, DEFAULT_SCORE_EPOCH
from datadiet.engine import DatasetSpec, Job, ProgressFactory, as_spec, closure, run_experiment
from datadiet.errors import DataDietError
from datadiet.models import check_model
from datadiet.models.flops import flops_per_example
from datadiet.plots import accuracy_vs_flops, accuracy_vs_fraction, compute_dividend, per_class_change
from datadiet.reports import describe_setup, report_markdown
from datadiet.runs import RunDir, atomic_write_bytes, config_hash, read_json
from datadiet.scores import parse_method
from datadiet.scores.basic import input_norm
from datadiet.selection import STRATEGIES
from datadiet.stages.score import TABLE_PREFIX, ScoreConfig, ScoreJob, TableScoreJob
from datadiet.stages.select import SelectJob
from datadiet.stages.train import TrainJob, load_test_predictions
from datadiet.stats import DEFAULT_MARGIN, ESTABLISHED, NOT_ESTABLISHED, REFUTED
from datadiet.tables import (
    class_changes,
    class_count,
    compute_points,
    derive_summary,
    flops_points,
    fraction_points,
    middle_fraction,
    norm_correlation,
    norm_correlation_summary,
    pruned_flops_known,
    sweep_verdicts,
    verdict_records,
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
    unverified_tables: bool = field(default=False, metadata={"omit_default": True})  # table:PATH without provenance
    margin: float = field(default=DEFAULT_MARGIN, metadata={"omit_default": True})  # points; the report's verdicts

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
        for m in self.methods:  # e.g. infobatch cannot prune in 2 epochs: refused before any training
            if m in DYNAMIC_PRUNERS and self.fractions[-1] > 0:
                DynamicPruning(m, self.fractions[-1]).check_epochs(self.train.epochs)
        check_positive_int("seeds", self.seeds)
        check_positive_int("score_seeds", self.score_seeds)
        check_choice("budget", self.budget, BUDGETS)
        check_choice("strategy", self.strategy, STRATEGIES)
        check_fraction("offset", self.offset, allow_one=False)
        check_fraction("hard_cutoff", self.hard_cutoff, allow_one=False)
        check_positive_int("bins", self.bins)
        object.__setattr__(self, "margin", check_positive_float("margin", self.margin))
        if self.margin == 0:
            raise DataDietError(f"margin must be > 0 points, got {self.margin!r}")
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
    resume: dict[str, int] = field(default_factory=dict)  # jobs run anew, resumed, finished earlier
    verdicts: list[dict] = field(default_factory=list)  # the report's claims judged (summary.json's "verdicts")

    def verdict_counts(self) -> dict[str, int]:
        """How many of the report's claims are established, not established and refuted."""
        return {v: sum(r["verdict"] == v for r in self.verdicts) for v in (ESTABLISHED, NOT_ESTABLISHED, REFUTED)}

    def full_data_accuracy(self) -> float | None:
        """Mean test accuracy of the full-data runs (None if the sweep has none)."""
        full = self.results.loc[self.results["fraction"] == 0, "test_accuracy"]
        return float(full.mean()) if len(full) else None

    def accuracy(self, column: str = "test_accuracy") -> dict[str, dict[str, float]]:
        """``{method: {fraction: mean test accuracy over seeds}}`` (of ``column``: ``val_accuracy``)."""
        pivot = self.results.groupby(["method", "fraction"])[column].mean().unstack("fraction")
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
            "verdicts": self.verdict_counts(),
            **({"val_accuracy": self.accuracy("val_accuracy")} if "val_accuracy" in self.results.columns else {}),
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
    """A sweep on a dataset, as an experiment: ``plan()`` its jobs (pure), run them anywhere,
    ``collect()`` one row per cell, ``report()`` its figures and ``report.md``."""

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
            return TableScoreJob.of(self.data, method[len(TABLE_PREFIX) :], unverified=self.config.unverified_tables)
        return ScoreJob(self.data, self.config.score_config(method))

    def grand_at_init(self) -> str | None:
        """The first of the sweep's methods that scores GraNd at initialisation (score epoch 0, e.g.
        ``grand@0``), or None: its scores are measured against the input norm (Kirsch 2023)."""
        for m in self.config.methods:
            if m == "random" or m in DYNAMIC_PRUNERS or m.startswith(TABLE_PREFIX):
                continue
            score = self.config.score_config(m)
            if score.method == "grand" and score.epoch == 0:
                return m
        return None

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

    def cells(self) -> list[Cell]:
        """Every cell of the sweep, in run order."""
        return plan_cells(self.config, self.data.load().num_train)

    def plan(self, out: Path | None = None) -> list[Job]:
        """Every job the sweep needs, de-duplicated by key, dependencies first (nothing runs): the
        full-data run every method shares is one job, and so are the scoring runs methods share."""
        jobs = [self.cell_job(c) for c in self.cells()]
        jobs += [j for m in self.config.methods if (j := self.score_job(m)) is not None]
        return closure(jobs)

    def folder(self, out: Path) -> Path:
        return RunDir(out, "sweep", self.rundir_config()).create().path

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        """``results``: one row per cell, read from the finished jobs' run directories; ``kirsch`` when
        the sweep scores GraNd at initialisation (:meth:`kirsch_table`).

        Compute is given in examples, seconds and FLOPs (:func:`datadiet.models.flops.flops_per_example`):
        training examples cost a forward and a backward pass; a scoring run's training the same; its
        scoring pass a forward (EL2N, loss, margins) or a forward and a backward (GraNd).
        ``flops_vs_full`` is a cell's training plus scoring FLOPs over one full-data training run's.
        Dynamic cells add ``saved_fraction`` (the training compute they really saved) and InfoBatch's
        ``pruning_epochs`` and ``capped_epochs`` (those whose skip count its cap r <= 0.9 cut).
        """
        ds = self.data.load()
        flops = _Flops.of(self.config, ds)
        rows = []
        for cell in self.cells():
            job = self.cell_job(cell)
            summary = job.result(out)
            score = self.score_job(cell.method) if cell.fraction > 0 else None
            cost = score.result(out)["cost"] if score is not None else _NO_COST
            row = {
                "method": cell.method,
                "fraction": cell.fraction,
                "seed": cell.seed,
                "budget": self.config.budget,
                "scored_at": _scored_at(cell.method, score) if cell.fraction > 0 else "",
                "train_size": summary["train_size"],
                "test_accuracy": summary["test_accuracy"],
                **({"val_accuracy": summary["val_accuracy"]} if ds.x_val is not None else {}),
                "steps": summary["steps"],
                "scoring_examples": float(cost["train_examples"] + cost["score_examples"]),
                "scoring_seconds": float(cost["train_seconds"] + cost["score_seconds"]),
                "train_examples": float(summary["examples_seen"]),
                "train_seconds": float(summary["seconds"]),
                "run_dir": str(job.path(out)),
                **_runtime_columns(summary),
            }
            row.update(flops.columns(row["train_examples"], cost, score))
            if job.dynamic is not None:
                row.update(_saved_columns(summary, cell.train.epochs * ds.num_train))
            for k, a in enumerate(summary["per_class_accuracy"]):
                row[f"class_{k}_accuracy"] = a
            if ds.g_test is not None:  # who pays: accuracy within each group, and the worst group's
                accs = group_accuracy(
                    load_test_predictions(job, out, ds), ds.y_test.numpy(), ds.g_test, len(ds.group_names)
                )
                row.update({f"group_{g}_accuracy": a for g, a in enumerate(accs)})
                row["worst_group_accuracy"] = float(np.nanmin(accs))
            rows.append(row)
        kirsch = self.kirsch_table(out, ds)
        return {"results": pd.DataFrame(rows), **({"kirsch": kirsch} if kirsch is not None else {})}

    def kirsch_table(self, out: Path, ds: Dataset) -> pd.DataFrame | None:
        """Spearman's rho of the GraNd-at-initialisation scores (:meth:`grand_at_init`, from its
        scoring run's table: averaged and per seed) against the training examples' input norms
        (:func:`datadiet.tables.norm_correlation`); None when the sweep scores no GraNd at initialisation."""
        method = self.grand_at_init()
        if method is None:
            return None
        scored = self.score_job(method).load(out)
        labels = scored.table["label"].to_numpy()
        return norm_correlation(scored.scores, input_norm(ds.x_train), labels, per_init=list(scored.per_seed.T))

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        ds = self.data.load()
        return {
            "dataset": dataset_description(self.data.key(), ds),
            "class_names": list(ds.class_names),
            "group_names": list(ds.group_names),
            "groups": self.data.groups or ("given with the data" if ds.g_test is not None else None),
            "num_train": ds.num_train,
            "config": self.config,
            "scored_at": {m: _scored_at(m, self.score_job(m)) for m in self.config.methods},
            "verdicts": verdict_records(sweep_verdicts(tables["results"], margin=self.config.margin)),
            **self._kirsch_summary(tables),
        }

    def _kirsch_summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        if "kirsch" not in tables:
            return {}
        return {"grand_init_vs_input_norm": norm_correlation_summary(tables["kirsch"], method=self.grand_at_init())}

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        """The figures, and ``report.md`` from the rows and the summary."""
        figures = sweep_figures(tables["results"], summary, folder)
        text = report_markdown({**summary, "figures": figures}, tables["results"])
        return {"figures": figures, "report": str(atomic_write_bytes(folder / "report.md", text.encode()))}


@dataclass(frozen=True)
class _Flops:
    """FLOPs per example of a sweep's training and scoring passes, and one full-data training run's."""

    train: float
    score_train: float
    score_forward: float
    full: float

    @classmethod
    def of(cls, cfg: SweepConfig, ds: Dataset) -> _Flops:
        def fpe(t: TrainConfig, backward: bool) -> float:
            return flops_per_example(t.model, tuple(ds.input_shape), ds.num_classes, width=t.width, backward=backward)

        st = cfg.score_train()
        train = fpe(cfg.train, True)
        return cls(train, fpe(st, True), fpe(st, False), cfg.train.epochs * ds.num_train * train)

    def columns(self, train_examples: float, cost: dict, score) -> dict:
        """``train_flops``, ``scoring_flops`` and ``flops_vs_full`` of a cell (``cost``: its scoring's)."""
        grand = getattr(score, "score", None) is not None and score.score.method == "grand"
        score_pass = self.score_train if grand else self.score_forward
        train = train_examples * self.train
        scoring = float(cost["train_examples"]) * self.score_train + float(cost["score_examples"]) * score_pass
        return {"train_flops": train, "scoring_flops": scoring, "flops_vs_full": (train + scoring) / self.full}


def _saved_columns(summary: dict, full_examples: int) -> dict:
    """A dynamic cell's ``saved_fraction`` (of the full data's training examples, from those it really
    visited) and, for InfoBatch, its ``pruning_epochs`` and ``capped_epochs`` (r capped at 0.9)."""
    counts = summary.get("dynamic") or {}
    cols = {"saved_fraction": 1 - float(summary["examples_seen"]) / full_examples}
    cols.update({k: int(counts[k]) for k in ("pruning_epochs", "capped_epochs") if k in counts})
    return cols


def _runtime_columns(summary: dict) -> dict:
    runtime = summary.get("runtime") or {}
    return {"torch": runtime.get("torch"), "threads": runtime.get("threads"), "cpu": runtime.get("cpu_capability")}


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
    device: str = DEFAULT_DEVICE,
) -> SweepResult:
    """Run (or resume) a sweep; writes ``OUT/sweep_<hash>/results.parquet``, its figures, ``report.md``
    and ``summary.json`` (see :func:`datadiet.engine.run_experiment`)."""
    spec = SweepSpec(as_spec(dataset), cfg)
    res = run_experiment(spec, out=out, executor=executor, device=device, progress=progress, command=command)
    return SweepResult(
        cfg,
        res.results,
        res.folder,
        res.folder / "results.parquet",
        res.figures,
        res.summary["resume"],
        res.summary.get("verdicts", []),
    )


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


def load_sweep(run_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """``(summary, results)`` of a sweep directory. A folder with ``results.parquet`` but no
    ``summary.json`` (older committed results) gets :func:`datadiet.tables.derive_summary`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataDietError(f"run directory not found: {run_dir}")
    summary_path, results_path = run_dir / "summary.json", run_dir / "results.parquet"
    if not results_path.exists():
        raise DataDietError(f"{run_dir} is not a finished sweep directory (no results.parquet)")
    try:
        results = pd.read_parquet(results_path)
    except Exception as e:
        raise DataDietError(f"cannot read {results_path}: {type(e).__name__}") from None
    for col in ("method", "fraction", "test_accuracy"):
        if col not in results.columns:
            raise DataDietError(f"{results_path} has no {col!r} column; it has {list(results.columns)}")
    summary = read_json(summary_path) if summary_path.exists() else derive_summary(results, run_dir)
    return summary, results


def write_report(run_dir: str | Path, *, redraw: bool = False) -> Path:
    """Write ``RUN_DIR/report.md`` (with ``redraw``, draw the figures again from the results first)."""
    run_dir = Path(run_dir)
    summary, results = load_sweep(run_dir)
    if redraw:
        summary["figures"] = sweep_figures(results, summary, run_dir)
    path = run_dir / "report.md"
    atomic_write_bytes(path, report_markdown(summary, results).encode())
    return path

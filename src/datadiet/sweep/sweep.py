"""The data-diet sweep: score once per method, prune to each fraction, train S seeds, evaluate.

Every (method, fraction, seed) cell is an independent unit of work with its own run directory
(``train_<hash>`` over dataset, training config and kept indices), so an interrupted sweep resumes
cell by cell, cells shared between methods (the full data) are trained once, and cells can later be
farmed out (e.g. to Ray) without changing how results are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.defaults import DEFAULT_CCS_BINS, DEFAULT_SCORE_EPOCH
from datadiet.errors import DataDietError
from datadiet.experiments.scoring import ProgressFactory, ScoreConfig, score_dataset
from datadiet.experiments.training import dataset_key, train_in_run_dir
from datadiet.runs import RunDir, atomic_write_json, atomic_write_parquet, runtime_info, to_jsonable
from datadiet.scores import parse_method
from datadiet.selection import STRATEGIES, select
from datadiet.training import TrainConfig
from datadiet.validation import check_choice, check_fraction, check_positive_int

BUDGETS = ("epochs", "steps")


@dataclass(frozen=True)
class SweepConfig:
    """A sweep. ``fractions`` are fractions of the training set PRUNED (0 = full data).

    ``budget="epochs"``: every subset trains ``train.epochs`` passes over itself (pruning saves
    compute). ``budget="steps"``: every subset trains as many optimiser steps as the full data (the
    paper's equal-steps comparison). ``methods`` are names or ``METHOD@T`` (see
    :func:`datadiet.scores.parse_method`): model-based scores at ``score_epoch``, forgetting and AUM
    counted over the whole schedule. ``hard_cutoff`` and ``bins`` are the ``ccs`` strategy's.
    """

    methods: tuple[str, ...] = ("random", "el2n", "grand")
    fractions: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7)
    seeds: int = 1
    train: TrainConfig = field(default_factory=TrainConfig)
    score_epoch: int = DEFAULT_SCORE_EPOCH
    score_seeds: int = 2
    budget: str = "epochs"
    strategy: str = "hardest"
    offset: float = 0.0
    balanced: bool = False
    hard_cutoff: float = 0.0
    bins: int = DEFAULT_CCS_BINS

    def __post_init__(self):
        if not self.methods:
            raise DataDietError("methods must list at least one method")
        for m in self.methods:
            self.score_config(m)  # validates the name and its epoch
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
        return ScoreConfig(method=name, epoch=t, seeds=tuple(range(self.score_seeds)), train=self.train)

    def selection_options(self) -> dict:
        """Keyword options of :func:`datadiet.selection.select` for scored methods."""
        opts = {"strategy": self.strategy, "balanced": self.balanced}
        if self.strategy == "window":
            opts["offset"] = self.offset
        if self.strategy == "ccs":
            opts.update(hard_cutoff=self.hard_cutoff, bins=self.bins)
        return opts


@dataclass
class SweepResult:
    config: SweepConfig
    results: pd.DataFrame
    path: Path
    results_path: Path
    figures: dict[str, str]


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


def keep_indices(cell: Cell, cfg: SweepConfig, scores: np.ndarray | None, labels: np.ndarray) -> np.ndarray | None:
    """The training indices of a cell: None for full data, else the kept examples (ties broken by the
    cell's seed). ``random`` ignores scores."""
    if cell.fraction == 0:
        return None
    keep = 1.0 - cell.fraction
    if cell.method == "random":
        idx = select(
            np.zeros(len(labels)), keep=keep, strategy="random", seed=cell.seed, labels=labels, balanced=cfg.balanced
        )
    else:
        idx = select(scores, keep=keep, seed=cell.seed, labels=labels, **cfg.selection_options())
    if idx.size == 0:
        raise DataDietError(f"fraction {cell.fraction} prunes every example of {len(labels)}")
    return idx


_NO_COST = {"train_examples": 0, "train_seconds": 0.0, "score_examples": 0, "score_seconds": 0.0}


def run_sweep(
    dataset: Dataset,
    cfg: SweepConfig,
    *,
    out: str | Path,
    progress: ProgressFactory | None = None,
    command: str | None = None,
) -> SweepResult:
    """Run (or resume) a sweep; writes ``OUT/sweep_<hash>/results.parquet`` and its figures."""
    out = Path(out)
    rd = RunDir(out, "sweep", {"dataset": dataset_key(dataset), "sweep": cfg}).create()
    n = dataset.num_train
    labels = dataset.y_train.numpy()
    scores: dict[str, tuple[np.ndarray | None, dict, str]] = {}
    for m in cfg.methods:
        if m == "random":
            scores[m] = (None, _NO_COST, "no scores")
            continue
        score_cfg = cfg.score_config(m)
        r = score_dataset(dataset, score_cfg, out=out, progress=progress)
        scores[m] = (r.scores, r.cost, score_cfg.scored_at)
    rows = []
    for cell in plan_cells(cfg, n):
        s, cost, when = scores[cell.method]
        subset = keep_indices(cell, cfg, s, labels)
        cb = progress(f"{cell.method} pruned {cell.fraction:.0%} seed {cell.seed}") if progress else None
        summary = train_in_run_dir(dataset, cell.train, out, subset=subset, progress=cb)
        pruned = cell.fraction > 0
        runtime = summary.get("runtime") or {}
        row = {
            "method": cell.method,
            "fraction": cell.fraction,
            "seed": cell.seed,
            "budget": cfg.budget,
            "scored_at": when if pruned else "",
            "train_size": summary["train_size"],
            "test_accuracy": summary["test_accuracy"],
            "steps": summary["steps"],
            "scoring_examples": float(cost["train_examples"] + cost["score_examples"]) if pruned else 0.0,
            "scoring_seconds": float(cost["train_seconds"] + cost["score_seconds"]) if pruned else 0.0,
            "train_examples": float(summary["examples_seen"]),
            "train_seconds": float(summary["seconds"]),
            "run_dir": summary["run_dir"],
            "torch": runtime.get("torch"),
            "threads": runtime.get("threads"),
            "cpu": runtime.get("cpu_capability"),
        }
        for k, a in enumerate(summary["per_class_accuracy"]):
            row[f"class_{k}_accuracy"] = a
        rows.append(row)
    results = pd.DataFrame(rows)
    results_path = rd.file("results.parquet")
    atomic_write_parquet(results_path, results)
    summary = to_jsonable(
        {
            "dataset": dataset_key(dataset),
            "class_names": list(dataset.class_names),
            "num_train": n,
            "config": cfg,
            "results": str(results_path),
            "command": command,
            "runtime": runtime_info(),
            "scored_at": {m: when for m, (_, _, when) in scores.items()},
        }
    )
    summary["figures"] = sweep_figures(results, summary, rd.path)
    atomic_write_json(rd.file("summary.json"), summary)
    return SweepResult(config=cfg, results=results, path=rd.path, results_path=results_path, figures=summary["figures"])


def sweep_figures(results: pd.DataFrame, summary: dict, folder: Path) -> dict[str, str]:
    """Draw the sweep's figures into ``folder``; returns ``{key: path}``.

    ``summary`` is the sweep's ``summary.json`` dict (class names from ``summary["class_names"]``);
    every figure's subtitle is :func:`datadiet.sweep.report.describe_setup` of it, so each says the
    budget and the schedule.
    """
    from datadiet.plots import accuracy_vs_fraction, compute_dividend, per_class_change
    from datadiet.sweep.report import describe_setup

    if not isinstance(summary, dict):  # the old signature passed the class names here
        summary = {"class_names": list(summary or [])}
    folder = Path(folder)
    setup = describe_setup(summary, results)
    names = list(summary.get("class_names") or [])
    k = (
        max(
            (
                int(c.split("_")[1])
                for c in results.columns
                if str(c).startswith("class_") and str(c).endswith("_accuracy")
            ),
            default=-1,
        )
        + 1
    )
    if len(names) < k:
        names += [f"class {i}" for i in range(len(names), k)]
    figs = {"accuracy": str(accuracy_vs_fraction(results, folder / "accuracy_vs_fraction.png", subtitle=setup))}
    pruned = sorted(f for f in results["fraction"].unique() if f > 0)
    if pruned and (results["fraction"] == 0).any():
        target = min(pruned, key=lambda f: abs(f - 0.5))
        if k:
            figs["per_class"] = str(
                per_class_change(results, names, folder / "per_class_change.png", fraction=target, subtitle=setup)
            )
        if {"scoring_examples", "train_examples"} <= set(results.columns):
            figs["compute"] = str(compute_dividend(results, folder / "compute_dividend.png", subtitle=setup))
    return figs

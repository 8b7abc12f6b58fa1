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
from datadiet.errors import DataDietError
from datadiet.runs import RunDir, atomic_write_json, atomic_write_parquet
from datadiet.scores import METHODS, ScoreConfig, score_dataset
from datadiet.scores.run import ProgressFactory
from datadiet.selection import STRATEGIES, select
from datadiet.training import TrainConfig
from datadiet.training.managed import dataset_key, train_in_run_dir
from datadiet.validation import check_choice, check_fraction, check_positive_int

BUDGETS = ("epochs", "steps")


@dataclass(frozen=True)
class SweepConfig:
    """A sweep. ``fractions`` are fractions of the training set PRUNED (0 = full data).

    ``budget="epochs"``: every subset trains ``train.epochs`` passes over itself (pruning saves
    compute). ``budget="steps"``: every subset trains as many optimiser steps as the full data (the
    paper's equal-steps comparison).
    """

    methods: tuple[str, ...] = ("random", "el2n", "grand")
    fractions: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7)
    seeds: int = 1
    train: TrainConfig = field(default_factory=TrainConfig)
    score_epoch: int = 2
    score_seeds: int = 2
    budget: str = "epochs"
    strategy: str = "hardest"
    offset: float = 0.0
    balanced: bool = False

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

    def score_config(self, method: str) -> ScoreConfig:
        """``METHOD`` scores at ``score_epoch``; ``METHOD@T`` at epoch T (e.g. ``grand@0``: at init)."""
        name, sep, epoch = method.partition("@")
        check_choice("method", name, METHODS)
        t = self.score_epoch
        if sep:
            try:
                t = int(epoch)
            except ValueError:
                raise DataDietError(f"method {method!r}: the epoch after @ must be an integer, got {epoch!r}") from None
        return ScoreConfig(method=name, epoch=t, seeds=tuple(range(self.score_seeds)), train=self.train)


@dataclass
class SweepResult:
    config: SweepConfig
    results: pd.DataFrame
    path: Path
    results_path: Path
    figures: dict[str, str]


def _cell_config(cfg: SweepConfig, seed: int, n_full: int, fraction: float) -> TrainConfig:
    """Training config of one cell. Full data trains the same under both budgets, so it is one
    config (and one run directory) whatever the budget."""
    tcfg = cfg.train.with_seed(seed)
    if cfg.budget == "steps" and fraction > 0:
        tcfg = replace(tcfg, steps=cfg.train.total_steps(n_full))
    return tcfg


def _keep_indices(method: str, scores: np.ndarray | None, fraction: float, labels: np.ndarray, cfg: SweepConfig,
                  seed: int) -> np.ndarray:
    keep = 1.0 - fraction
    if method == "random":
        return select(np.zeros(len(labels)), keep=keep, strategy="random", seed=seed, labels=labels, balanced=cfg.balanced)
    strategy = cfg.strategy
    kwargs = {"offset": cfg.offset} if strategy == "window" else {}
    return select(scores, keep=keep, strategy=strategy, seed=seed, labels=labels, balanced=cfg.balanced, **kwargs)


def run_sweep(dataset: Dataset, cfg: SweepConfig, *, out: str | Path, progress: ProgressFactory | None = None,
              command: str | None = None) -> SweepResult:
    """Run (or resume) a sweep; writes ``OUT/sweep_<hash>/results.parquet`` and its figures."""
    out = Path(out)
    rd = RunDir(out, "sweep", {"dataset": dataset_key(dataset), "sweep": cfg}).create()
    n = dataset.num_train
    labels = dataset.y_train.numpy()
    scores: dict[str, tuple[np.ndarray | None, dict]] = {}
    for m in cfg.methods:
        if m == "random":
            scores[m] = (None, {"train_examples": 0, "train_seconds": 0.0, "score_examples": 0, "score_seconds": 0.0})
            continue
        r = score_dataset(dataset, cfg.score_config(m), out=out, progress=progress)
        scores[m] = (r.scores, r.cost)
    rows = []
    for m in cfg.methods:
        s, cost = scores[m]
        for f in cfg.fractions:
            for seed in range(cfg.seeds):
                tcfg = _cell_config(cfg, seed, n, f)
                subset = None if f == 0 else _keep_indices(m, s, f, labels, cfg, seed)
                if subset is not None and subset.size == 0:
                    raise DataDietError(f"fraction {f} prunes every example of {n}")
                cb = progress(f"{m} pruned {f:.0%} seed {seed}") if progress else None
                summary = train_in_run_dir(dataset, tcfg, out, subset=subset, progress=cb)
                row = {
                    "method": m, "fraction": f, "seed": seed, "budget": cfg.budget,
                    "train_size": summary["train_size"], "test_accuracy": summary["test_accuracy"],
                    "steps": summary["steps"],
                    "scoring_examples": float(cost["train_examples"] + cost["score_examples"]) if f > 0 else 0.0,
                    "scoring_seconds": float(cost["train_seconds"] + cost["score_seconds"]) if f > 0 else 0.0,
                    "train_examples": float(summary["examples_seen"]), "train_seconds": float(summary["seconds"]),
                    "run_dir": summary["run_dir"],
                }
                for k, a in enumerate(summary["per_class_accuracy"]):
                    row[f"class_{k}_accuracy"] = a
                rows.append(row)
    results = pd.DataFrame(rows)
    results_path = rd.file("results.parquet")
    atomic_write_parquet(results_path, results)
    figures = sweep_figures(results, dataset.class_names, rd.path)
    atomic_write_json(rd.file("summary.json"), {
        "dataset": dataset_key(dataset), "class_names": list(dataset.class_names), "num_train": n,
        "config": cfg, "results": str(results_path), "figures": figures, "command": command,
    })
    return SweepResult(config=cfg, results=results, path=rd.path, results_path=results_path, figures=figures)


def sweep_figures(results: pd.DataFrame, class_names, folder: Path) -> dict[str, str]:
    from datadiet.plots import accuracy_vs_fraction, compute_dividend, per_class_change

    figs = {"accuracy": str(accuracy_vs_fraction(results, folder / "accuracy_vs_fraction.png"))}
    pruned = sorted(f for f in results["fraction"].unique() if f > 0)
    if pruned and (results["fraction"] == 0).any():
        target = min(pruned, key=lambda f: abs(f - 0.5))
        figs["per_class"] = str(per_class_change(results, class_names, folder / "per_class_change.png", fraction=target))
        figs["compute"] = str(compute_dividend(results, folder / "compute_dividend.png"))
    return figs

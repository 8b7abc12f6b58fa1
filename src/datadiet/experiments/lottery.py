"""Lottery tickets on a data diet as experiments: IMP with rewinding (:class:`LotteryExperiment`) and
linear mode connectivity (:class:`LmcExperiment`), each planned as the jobs of
:mod:`datadiet.stages.lottery` and run by :func:`datadiet.engine.run_experiment`.

* ``lottery_<hash>/``: ``results.parquet`` (one row per condition, replicate and level: sparsity,
  test accuracy overall and per class, the rewind point's accuracy), the accuracy-vs-weights-remaining
  figure, ``summary.json`` (with the mean accuracy per condition and level).
* ``lmcrun_<hash>/``: ``results.parquet`` (one row per replicate: the test-error barrier, the mean
  per-example train cross-entropy barrier, the error along the path), ``scores.parquet`` (the
  per-example barrier, mean over replicates and pairs: a score table ``prune`` and ``sweep`` read),
  the error-along-the-path figure and ``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.data.split import dataset_description
from datadiet.defaults import DEFAULT_DEVICE
from datadiet.engine import DatasetSpec, ProgressFactory, as_spec, run_experiment
from datadiet.errors import DataDietError
from datadiet.lottery import (
    ALPHAS,
    LMC_THRESHOLD,
    check_levels,
    check_pretrain,
    lmc_fraction,
    parse_pretrain,
    prunable_weights,
)
from datadiet.models import build_model
from datadiet.plots.lottery import accuracy_vs_remaining, interpolation_paths
from datadiet.runs import RunDir
from datadiet.selection import select
from datadiet.stages.lottery import BRANCHES, LevelJob, LmcJob, RewindJob
from datadiet.stages.score import read_score_table, score_table
from datadiet.stages.select import SelectJob
from datadiet.training import TrainConfig
from datadiet.validation import check_copies, check_positive_int, check_rate, check_step_in_schedule


@dataclass(frozen=True)
class LotteryConfig:
    """An IMP experiment: ``levels`` levels after the dense level 0, ``replicates`` seeds.

    ``pretrain`` (``full``, ``random:N``, ``easy:N``, ``hard:N``) is the data of the k =
    ``rewind_step`` pre-training steps; easy and hard read a score table (lowest / highest scores,
    class-balanced). ``branches`` adds the random-pruning and random-reinitialisation baselines, at
    every level, or only at ``branch_levels`` when given (each baseline needs only its own level's IMP
    mask, so a study can afford them at every rewind step by running them where it reads them).
    """

    train: TrainConfig = field(default_factory=TrainConfig)
    levels: int = 3
    rate: float = 0.2
    rewind_step: int = 0
    pretrain: str = "full"
    exclude: tuple[str, ...] = ()
    replicates: int = 1
    branches: bool = True
    branch_levels: tuple[int, ...] = field(default=(), metadata={"omit_default": True})

    def __post_init__(self):
        check_positive_int("levels", self.levels)
        object.__setattr__(self, "branch_levels", tuple(self.branch_levels))
        bad = [v for v in self.branch_levels if not isinstance(v, int) or not 1 <= v <= self.levels]
        if bad:
            raise DataDietError(f"branch_levels must be levels 1..{self.levels}, got {bad[0]!r}")
        check_rate("rate", self.rate)
        check_positive_int("rewind_step", self.rewind_step, allow_zero=True)
        check_pretrain(self.pretrain, step=self.rewind_step, step_name="rewind_step", batch_size=self.train.batch_size)
        check_positive_int("replicates", self.replicates)
        object.__setattr__(self, "exclude", tuple(self.exclude))


@dataclass(frozen=True)
class LmcConfig:
    """Connectivity from the rewind point after ``from_step`` steps (pre-trained on ``pretrain``)."""

    train: TrainConfig = field(default_factory=TrainConfig)
    from_step: int = 0
    pretrain: str = "full"
    copies: int = 2
    replicates: int = 1

    def __post_init__(self):
        check_positive_int("from_step", self.from_step, allow_zero=True)
        check_pretrain(self.pretrain, step=self.from_step, step_name="from_step", batch_size=self.train.batch_size)
        check_copies(self.copies)
        check_positive_int("replicates", self.replicates)


def pretrain_subset(
    spec: DatasetSpec, pretrain: str, *, seed: int, scores: str | Path | pd.DataFrame | None = None
) -> SelectJob | None:
    """The pre-training subset of ``pretrain`` (None for full data): N examples, class-balanced,
    at random (seeded) or the lowest (``easy``) / highest (``hard``) scores of a score table."""
    kind, size = parse_pretrain(pretrain)
    if kind == "full":
        return None
    ds = spec.load()
    labels = ds.y_train.numpy()
    if size > ds.num_train:
        raise DataDietError(f"pretrain size must be <= the {ds.num_train} training examples, got {size}")
    if kind == "random":
        idx = select(np.zeros(ds.num_train), keep=size, strategy="random", balanced=True, labels=labels, seed=seed)
    else:
        if scores is None:
            raise DataDietError(f"pretrain {pretrain!r} needs a score table (--scores, from `datadiet score`)")
        table = scores if isinstance(scores, pd.DataFrame) else read_score_table(scores, dataset=ds)
        strategy = "easiest" if kind == "easy" else "hardest"
        idx = select(table["score"].to_numpy(), keep=size, strategy=strategy, balanced=True, labels=labels, seed=seed)
    return SelectJob.given(spec, idx)


def rewind_point(
    spec: DatasetSpec, train: TrainConfig, step: int, pretrain: str, *, seed: int, scores=None
) -> RewindJob:
    """Replicate ``seed``'s rewind point: ``step`` steps of the schedule (checked against it) on the
    pre-training data ``pretrain``."""
    check_step_in_schedule("rewind step", step, train.total_steps(spec.load().num_train))
    return RewindJob(spec, train.with_seed(seed), step, pretrain_subset(spec, pretrain, seed=seed, scores=scores))


@dataclass(frozen=True)
class LotteryExperiment:
    """IMP with rewinding on ``data`` (``scores``: the table ``easy:N`` / ``hard:N`` pre-training reads)."""

    data: DatasetSpec
    config: LotteryConfig
    scores: str | Path | pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @cached_property
    def jobs(self) -> list[tuple[int, LevelJob]]:
        """(replicate, job) for every level and branch of every replicate (dependencies via ``deps()``);
        bad steps, subsets, tables and excluded layers are refused here, before anything runs."""
        cfg, ds = self.config, self.data.load()
        t = cfg.train
        model = build_model(t.model, ds.input_shape, ds.num_classes, width=t.width)
        params = dict(model.named_parameters())
        n = sum(params[name].numel() for name in prunable_weights(model, exclude=cfg.exclude))
        check_levels(n, rate=cfg.rate, levels=cfg.levels)
        out = []
        for r in range(cfg.replicates):
            rewind = rewind_point(self.data, t, cfg.rewind_step, cfg.pretrain, seed=r, scores=self.scores)
            for level in range(cfg.levels + 1):
                job = LevelJob(self.data, rewind.train, rewind, level, rate=cfg.rate, exclude=cfg.exclude)
                out.append((r, job))
                if cfg.branches and level > 0 and (not cfg.branch_levels or level in cfg.branch_levels):
                    out += [(r, replace(job, branch=b)) for b in BRANCHES[1:]]
        return out

    def plan(self, out: Path | None = None) -> list[LevelJob]:
        return [j for _, j in self.jobs]

    def folder(self, out: Path) -> Path:
        subset = self.jobs[0][1].rewind.config()["subset"]
        return (
            RunDir(out, "lottery", {"dataset": self.data.key(), "lottery": self.config, "scores": subset}).create().path
        )

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        cfg, rows = self.config, []
        for r, job in self.jobs:
            res, rew = job.result(out), job.rewind.result(out)
            row = {
                "condition": job.branch,
                "replicate": r,
                "level": job.level,
                "sparsity": res["sparsity"],
                "remaining": 1.0 - res["sparsity"],
                "test_accuracy": res["test_accuracy"],
                **({"val_accuracy": res["val_accuracy"]} if "val_accuracy" in res else {}),
                "rewind_step": cfg.rewind_step,
                "pretrain": cfg.pretrain,
                "pretrain_size": rew["train_size"],
                "rewind_accuracy": rew["test_accuracy"],
                "steps": res["steps"],
                "train_seconds": res["seconds"],
                "run_dir": str(job.path(out)),
            }
            row.update({f"class_{k}_accuracy": a for k, a in enumerate(res["per_class_accuracy"])})
            rows.append(row)
        return {"results": pd.DataFrame(rows)}

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        means = (
            tables["results"]
            .groupby(["condition", "level"], sort=False)
            .agg(sparsity=("sparsity", "mean"), test_accuracy=("test_accuracy", "mean"))
            .reset_index()
        )
        dataset = dataset_description(self.data.key(), self.data.load())
        return {"dataset": dataset, "config": self.config, "accuracy": means.to_dict(orient="records")}

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        cfg, t = self.config, self.config.train
        title = (
            f"{self.data.name}, {t.model}, {t.epochs} epochs, rewind to step {cfg.rewind_step} "
            f"(pre-training: {cfg.pretrain}), rate {cfg.rate:g}, {cfg.replicates} replicate(s)"
        )
        figure = accuracy_vs_remaining(tables["results"], folder / "accuracy_vs_remaining.png", title=title)
        return {"figures": {"accuracy": str(figure)}}


@dataclass(frozen=True)
class LmcExperiment:
    """Linear mode connectivity of ``config.copies`` copies per replicate, from their rewind point."""

    data: DatasetSpec
    config: LmcConfig
    scores: str | Path | pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @cached_property
    def jobs(self) -> list[LmcJob]:
        """One :class:`LmcJob` per replicate (the step checked against the schedule here)."""
        cfg = self.config
        rewinds = [
            rewind_point(self.data, cfg.train, cfg.from_step, cfg.pretrain, seed=r, scores=self.scores)
            for r in range(cfg.replicates)
        ]
        return [LmcJob(self.data, w.train, w, copies=cfg.copies) for w in rewinds]

    def plan(self, out: Path | None = None) -> list[LmcJob]:
        return list(self.jobs)

    def folder(self, out: Path) -> Path:
        config = {"dataset": self.data.key(), "lmc": self.config, "jobs": [j.key() for j in self.jobs]}
        return RunDir(out, "lmcrun", config).create().path

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        """``results`` (one row per replicate) and ``scores`` (the per-example barrier, mean over
        replicates and pairs, as a score table)."""
        cfg, rows, per_example, ds = self.config, [], [], self.data.load()
        for r, job in enumerate(self.jobs):
            res, rew, examples = job.result(out), job.rewind.result(out), job.per_example(out)
            rows.append(
                {
                    "replicate": r,
                    "from_step": cfg.from_step,
                    "pretrain": cfg.pretrain,
                    "pretrain_size": rew["train_size"],
                    "rewind_accuracy": rew["test_accuracy"],
                    "error_barrier": res["error_barrier"],
                    "train_ce_barrier_mean": res["train_ce_barrier_mean"],
                    # from the kept per-example table: connected at the threshold, and with no error barrier
                    "lmc_fraction": lmc_fraction(examples["loss_barrier"].to_numpy(), LMC_THRESHOLD),
                    "lmc_fraction_error": lmc_fraction(examples["error_barrier"].to_numpy(), 0.0),
                    "path": [float(v) for v in np.mean(res["test_error_paths"], axis=0)],  # mean over pairs
                    "run_dir": str(job.path(out)),
                }
            )
            table = read_score_table(job.path(out) / "scores.parquet", dataset=ds, unverified=True)  # the job's own
            per_example.append(table["score"].to_numpy())
        scores = score_table(ds, np.stack(per_example, axis=1), list(range(len(self.jobs))))
        return {"results": pd.DataFrame(rows), "scores": scores}

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        results = tables["results"]
        return {
            "dataset": dataset_description(self.data.key(), self.data.load()),
            "method": "lmc-barrier",
            "config": self.config,
            "error_barrier": float(results["error_barrier"].mean()),
            "train_ce_barrier_mean": float(results["train_ce_barrier_mean"].mean()),
            "alphas": list(ALPHAS),
            "test_error_paths": [p for job in self.jobs for p in job.result(out)["test_error_paths"]],
        }

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        """The test error along the path between every pair of copies of every replicate."""
        cfg = self.config
        paths = summary["test_error_paths"]
        title = f"{self.data.name}, {cfg.train.model}, from step {cfg.from_step} (pre-training: {cfg.pretrain})"
        figure = interpolation_paths(summary["alphas"], paths, folder / "error_along_path.png", title=title)
        return {"figures": {"path": str(figure)}}


def run_lottery(
    dataset: Dataset | DatasetSpec,
    cfg: LotteryConfig,
    *,
    out: str | Path,
    scores=None,
    executor=None,
    device: str = DEFAULT_DEVICE,
    progress: ProgressFactory | None = None,
    command: str | None = None,
):
    """Run (or resume) an IMP experiment (:class:`LotteryExperiment`); an
    :class:`~datadiet.engine.ExperimentResult` whose ``results`` has one row per condition, replicate
    and level."""
    exp = LotteryExperiment(as_spec(dataset), cfg, scores)
    return run_experiment(exp, out=out, executor=executor, device=device, progress=progress, command=command)


def run_lmc(
    dataset: Dataset | DatasetSpec,
    cfg: LmcConfig,
    *,
    out: str | Path,
    scores=None,
    executor=None,
    device: str = DEFAULT_DEVICE,
    progress: ProgressFactory | None = None,
    command: str | None = None,
):
    """Connectivity (:class:`LmcExperiment`); an :class:`~datadiet.engine.ExperimentResult` with
    ``results`` (one row per replicate) and ``scores`` (the per-example barrier table)."""
    exp = LmcExperiment(as_spec(dataset), cfg, scores)
    return run_experiment(exp, out=out, executor=executor, device=device, progress=progress, command=command)

"""Lottery tickets on a data diet as jobs: rewind points, IMP levels with their random baselines, and
linear mode connectivity (Paul et al. 2022, after open_lth and lth_diet).

* :class:`RewindJob` (``rewind_<hash>``): initialise, then train ``step`` = k steps of the full-data
  schedule, on the full data or on a pre-training subset (the only place a subset is used), and save
  ``w_k.pt``. k = 0 is the initialisation.
* :class:`LevelJob` (``imp_<hash>``): IMP level L. Level 0's mask is all ones; level L prunes ``rate``
  of the weights still remaining by global magnitude of level L-1's final weights (every Conv and
  Linear weight in one pool, ``exclude`` kept dense; biases and normalisation never pruned). Each level
  loads w_k, applies its mask and trains on the full data from step k to the schedule's end (the LR
  and data order of step k, a fresh optimiser), pruned weights held at exactly zero. Saves
  ``mask.pt``, ``model.pt`` and ``result.json``. ``branch="random-prune"`` trains a random mask of the
  same per-layer sparsity, ``branch="random-reinit"`` the IMP mask from a fresh initialisation.
* :class:`LmcJob` (``lmc_<hash>``): two or more dense copies trained from w_k to the end with other
  data-order and augmentation seeds (each a level-0 :class:`LevelJob`), interpolated at alpha = 0,
  0.1, ..., 1: the test-error barrier, and the per-example train cross-entropy barrier at 0.5, which
  is written as a score table (``scores.parquet``) that ``prune`` and ``sweep`` read like any score.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.errors import DataDietError
from datadiet.experiments.jobs import Context, DatasetSpec, Job, ProgressFactory, as_spec, run_jobs
from datadiet.experiments.scoring import read_score_table, score_table
from datadiet.experiments.selection import SelectJob
from datadiet.experiments.training import RunDirCheckpointer, load_weights
from datadiet.lottery import (
    ALPHAS,
    dense_masks,
    error_barrier,
    interpolate,
    magnitude_prune,
    pairwise_barriers,
    prunable_weights,
    random_masks_like,
    sparsity,
)
from datadiet.models import build_model
from datadiet.runs import (
    RunDir,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_parquet,
    runtime_info,
    to_jsonable,
)
from datadiet.scores import loss as per_example_loss
from datadiet.selection import select
from datadiet.training import TrainConfig, evaluate, train
from datadiet.training.trainer import derived_seed
from datadiet.validation import check_choice, check_positive_int

PRETRAIN_KINDS = ("full", "random", "easy", "hard")
BRANCHES = ("imp", "random-prune", "random-reinit")
LMC_SEED_OFFSET = 20_000  # data-order/augmentation seeds of LMC copies, apart from everything else


def parse_pretrain(spec: str) -> tuple[str, int | None]:
    """``full``, ``random:N``, ``easy:N`` or ``hard:N`` -> (kind, N)."""
    kind, sep, n = str(spec).partition(":")
    check_choice("pretrain", kind, PRETRAIN_KINDS)
    if kind == "full":
        if sep:
            raise DataDietError(f"pretrain 'full' takes no size, got {spec!r}")
        return kind, None
    try:
        size = int(n)
    except ValueError:
        raise DataDietError(f"pretrain {spec!r}: the size after ':' must be an integer, e.g. {kind}:1000") from None
    return kind, check_positive_int("pretrain size", size)


def _cpu_state(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class RewindJob(Job):
    """w_k: ``train``'s model initialised with its init seed and trained ``step`` steps of the full-data
    schedule (LR and length of the full-data run), on ``subset``'s examples if given."""

    data: DatasetSpec
    train: TrainConfig
    step: int
    subset: SelectJob | None = None
    kind: ClassVar[str] = "rewind"

    def config(self) -> dict:
        sub = None if self.subset is None else self.subset.key()
        return {"dataset": self.data.key(), "train": self.train, "step": self.step, "subset": sub}

    def deps(self) -> tuple[Job, ...]:
        return () if self.subset is None else (self.subset,)

    def describe(self) -> str:
        return f"rewind point: {self.step} steps (seed {self.train.init_seed})"

    def run(self, rd: RunDir, ctx: Context) -> dict:
        ds = self.data.load()
        total = self.train.total_steps(ds.num_train)
        if self.step > total:
            raise DataDietError(f"rewind step must be <= the schedule's {total} steps, got {self.step}")
        subset = None if self.subset is None else self.subset.indices(ctx.out)
        if self.step == 0:
            model = build_model(
                self.train.model, ds.input_shape, ds.num_classes, width=self.train.width, seed=self.train.init_seed
            )
            acc, per_class = evaluate(model, ds.x_test, ds.y_test, ds.num_classes)
            seconds, examples = 0.0, 0
        else:
            res = train(
                ds,
                replace(self.train, steps=total),  # the full-data schedule, whatever the subset's size
                subset=subset,
                checkpointer=RunDirCheckpointer(rd.path),
                stop_at=self.step,
                progress=ctx.bar(self.describe()),
                device=ctx.device,
            )
            model, acc, per_class, seconds, examples = (
                res.model,
                res.test_accuracy,
                res.per_class_accuracy,
                res.seconds,
                res.examples_seen,
            )
        atomic_torch_save(rd.file("w_k.pt"), _cpu_state(model))
        return {
            "step": self.step,
            "train_size": ds.num_train if subset is None else int(len(subset)),
            "test_accuracy": acc,
            "per_class_accuracy": per_class,
            "examples_seen": examples,
            "seconds": seconds,
            "runtime": {**runtime_info(), "device": ctx.device},
        }

    def cleanup(self, rd: RunDir) -> None:
        RunDirCheckpointer(rd.path).clear_state()

    def weights(self, out) -> dict:
        return load_weights(self.path(out) / "w_k.pt", "rewind point")


@dataclass(frozen=True)
class LevelJob(Job):
    """IMP level ``level`` (or one of its random baselines, ``branch``), trained from ``rewind``."""

    data: DatasetSpec
    train: TrainConfig
    rewind: RewindJob
    level: int
    rate: float = 0.2
    exclude: tuple[str, ...] = ()
    branch: str = "imp"
    kind: ClassVar[str] = "imp"

    def __post_init__(self):
        check_positive_int("level", self.level, allow_zero=True)
        check_choice("branch", self.branch, BRANCHES)
        if not (0 < self.rate < 1):
            raise DataDietError(f"rate must be in (0, 1), got {self.rate!r}")
        if self.branch != "imp" and self.level == 0:
            raise DataDietError("random baselines start at level 1 (level 0 is the dense network)")

    def config(self) -> dict:
        return {
            "dataset": self.data.key(),
            "train": self.train,
            "rewind": self.rewind.key(),
            "level": self.level,
            "rate": self.rate,
            "exclude": list(self.exclude),
            "branch": self.branch,
        }

    def imp(self, level: int) -> LevelJob:
        """The IMP job of ``level`` in this run."""
        return replace(self, level=level, branch="imp")

    def deps(self) -> tuple[Job, ...]:
        if self.branch != "imp":
            return (self.rewind, self.imp(self.level))
        return (self.rewind,) if self.level == 0 else (self.rewind, self.imp(self.level - 1))

    def describe(self) -> str:
        return f"{self.branch} level {self.level} (seed {self.train.init_seed}, rewind {self.rewind.step})"

    def model(self, ds: Dataset, seed: int | None = None):
        t = self.train
        return build_model(
            t.model, ds.input_shape, ds.num_classes, width=t.width, seed=t.init_seed if seed is None else seed
        )

    def masks(self, out) -> dict:
        return load_weights(self.path(out) / "mask.pt", "mask")

    def final_weights(self, out) -> dict:
        return load_weights(self.path(out) / "model.pt", "trained weights")

    def _masks_here(self, ctx: Context, ds: Dataset) -> dict:
        if self.branch != "imp":
            imp_masks = self.imp(self.level).masks(ctx.out)
            if self.branch == "random-prune":
                return random_masks_like(imp_masks, seed=derived_seed(self.train.init_seed, self.level, 0x5EED))
            return imp_masks
        if self.level == 0:
            return dense_masks(self.model(ds), exclude=self.exclude)
        parent = self.imp(self.level - 1)
        return magnitude_prune(parent.final_weights(ctx.out), parent.masks(ctx.out), rate=self.rate)

    def run(self, rd: RunDir, ctx: Context) -> dict:
        ds = self.data.load()
        masks = self._masks_here(ctx, ds)
        atomic_torch_save(rd.file("mask.pt"), masks)
        if self.branch == "random-reinit":  # the same mask on a fresh initialisation
            init = _cpu_state(self.model(ds, seed=derived_seed(self.train.init_seed, self.level, 0x1E1)))
        else:
            init = self.rewind.weights(ctx.out)
        res = train(
            ds,
            self.train,
            init_state=init,
            masks=masks,
            start_step=self.rewind.step,
            checkpointer=RunDirCheckpointer(rd.path),
            progress=ctx.bar(self.describe()),
            device=ctx.device,
        )
        state = _cpu_state(res.model)
        atomic_torch_save(rd.file("model.pt"), state)
        pruned_nonzero = sum(int((state[n][m == 0] != 0).sum()) for n, m in masks.items())
        if pruned_nonzero:  # pragma: no cover - the trainer holds them at zero; never report a wrong sparsity
            raise DataDietError(f"{pruned_nonzero} pruned weights moved away from zero in {self.describe()}")
        return {
            "level": self.level,
            "branch": self.branch,
            "sparsity": sparsity(masks),
            "test_accuracy": res.test_accuracy,
            "per_class_accuracy": res.per_class_accuracy,
            "steps": res.steps,
            "examples_seen": res.examples_seen,
            "seconds": res.seconds,
            "runtime": {**runtime_info(), "device": ctx.device},
        }

    def cleanup(self, rd: RunDir) -> None:
        RunDirCheckpointer(rd.path).clear_state()


@dataclass(frozen=True)
class LmcJob(Job):
    """Linear mode connectivity of ``copies`` dense networks trained from ``rewind`` with different
    data-order and augmentation seeds."""

    data: DatasetSpec
    train: TrainConfig
    rewind: RewindJob
    copies: int = 2
    kind: ClassVar[str] = "lmc"
    marker: ClassVar[str] = "summary.json"

    def __post_init__(self):
        check_positive_int("copies", self.copies)
        if self.copies < 2:
            raise DataDietError(f"copies must be >= 2 (connectivity compares pairs), got {self.copies}")

    def config(self) -> dict:
        return {"dataset": self.data.key(), "train": self.train, "rewind": self.rewind.key(), "copies": self.copies}

    def copy(self, i: int) -> LevelJob:
        seed = LMC_SEED_OFFSET + 100 * self.train.order_seed + i
        return LevelJob(self.data, replace(self.train, order_seed=seed, aug_seed=seed), self.rewind, level=0)

    def deps(self) -> tuple[Job, ...]:
        return tuple(self.copy(i) for i in range(self.copies))

    def describe(self) -> str:
        return f"connectivity from step {self.rewind.step} ({self.copies} copies, seed {self.train.init_seed})"

    def run(self, rd: RunDir, ctx: Context) -> dict:
        ds = self.data.load()
        states = [self.copy(i).final_weights(ctx.out) for i in range(self.copies)]
        model = self.copy(0).model(ds).to(ctx.device)
        paths, barriers, per_example = [], [], []
        for i, j in pairwise_barriers(states):
            errors = []
            for a in ALPHAS:
                model.load_state_dict(interpolate(states[i], states[j], a))
                acc, _ = evaluate(model, ds.x_test, ds.y_test, ds.num_classes)
                errors.append(1.0 - acc)
            paths.append(errors)
            barriers.append(error_barrier(errors))
            ce = []
            for a in (0.0, 0.5, 1.0):
                model.load_state_dict(interpolate(states[i], states[j], a))
                ce.append(per_example_loss(model, ds.x_train, ds.y_train))
            per_example.append(ce[1] - 0.5 * (ce[0] + ce[2]))
        per_pair = np.stack(per_example, axis=1)  # (N, pairs)
        table = score_table(ds, per_pair, list(range(per_pair.shape[1])))
        atomic_write_parquet(rd.file("scores.parquet"), table)
        return {
            "method": "lmc-barrier",
            "rewind_step": self.rewind.step,
            "alphas": list(ALPHAS),
            "test_error_paths": paths,
            "error_barrier": float(np.mean(barriers)),
            "error_barriers": barriers,
            "train_ce_barrier_mean": float(per_pair.mean()),
            "dataset": self.data.key(),
            "num_examples": ds.num_train,
            "runtime": {**runtime_info(), "device": ctx.device},
        }


# ---------------------------------------------------------------------------------------------
# Runs: the jobs of a lottery experiment or a connectivity study, and their tables.


@dataclass(frozen=True)
class LotteryConfig:
    """An IMP experiment: ``levels`` levels after the dense level 0, ``replicates`` seeds.

    ``pretrain`` (``full``, ``random:N``, ``easy:N``, ``hard:N``) is the data of the k =
    ``rewind_step`` pre-training steps; easy and hard read a score table (lowest / highest scores,
    class-balanced). ``branches`` adds the random-pruning and random-reinitialisation baselines.
    """

    train: TrainConfig = field(default_factory=TrainConfig)
    levels: int = 3
    rate: float = 0.2
    rewind_step: int = 0
    pretrain: str = "full"
    exclude: tuple[str, ...] = ()
    replicates: int = 1
    branches: bool = True

    def __post_init__(self):
        check_positive_int("levels", self.levels)
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not (0 < self.rate < 1):
            raise DataDietError(f"rate must be in (0, 1), got {self.rate!r}")
        check_positive_int("rewind_step", self.rewind_step, allow_zero=True)
        kind, size = parse_pretrain(self.pretrain)
        if size is not None and size < self.train.batch_size:
            raise DataDietError(f"pretrain size must be >= the batch size {self.train.batch_size}, got {size}")
        if kind != "full" and self.rewind_step == 0:
            raise DataDietError(f"pretrain {self.pretrain!r} needs rewind_step > 0 (no pre-training at step 0)")
        check_positive_int("replicates", self.replicates)
        object.__setattr__(self, "exclude", tuple(self.exclude))


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


def lottery_jobs(spec: DatasetSpec, cfg: LotteryConfig, *, scores=None) -> list[tuple[int, LevelJob]]:
    """(replicate, job) for every level and branch of every replicate (dependencies via ``deps()``)."""
    ds = spec.load()
    total = cfg.train.total_steps(ds.num_train)
    if cfg.rewind_step > total:
        raise DataDietError(f"rewind step must be <= the schedule's {total} steps, got {cfg.rewind_step}")
    t = cfg.train
    prunable_weights(build_model(t.model, ds.input_shape, ds.num_classes, width=t.width), exclude=cfg.exclude)
    out = []
    for r in range(cfg.replicates):
        tcfg = cfg.train.with_seed(r)
        rewind = RewindJob(spec, tcfg, cfg.rewind_step, pretrain_subset(spec, cfg.pretrain, seed=r, scores=scores))
        for level in range(cfg.levels + 1):
            job = LevelJob(spec, tcfg, rewind, level, rate=cfg.rate, exclude=cfg.exclude)
            out.append((r, job))
            if cfg.branches and level > 0:
                out += [(r, replace(job, branch=b)) for b in BRANCHES[1:]]
    return out


@dataclass
class LotteryResult:
    config: LotteryConfig
    results: pd.DataFrame
    path: Path
    results_path: Path
    figures: dict[str, str]


def run_lottery(
    dataset: Dataset | DatasetSpec,
    cfg: LotteryConfig,
    *,
    out: str | Path,
    scores=None,
    executor=None,
    device: str = "cpu",
    progress: ProgressFactory | None = None,
    command: str | None = None,
) -> LotteryResult:
    """Run (or resume) an IMP experiment; writes ``OUT/lottery_<hash>/results.parquet`` (one row per
    condition, replicate and level) and its figure."""
    from datadiet.plots.lottery import accuracy_vs_remaining

    out = Path(out)
    spec = as_spec(dataset)
    jobs = lottery_jobs(spec, cfg, scores=scores)
    run_jobs([j for _, j in jobs], ctx=Context(out, device=device, progress=progress), executor=executor)
    rows = []
    for r, job in jobs:
        res, rew = job.result(out), job.rewind.result(out)
        row = {
            "condition": job.branch,
            "replicate": r,
            "level": job.level,
            "sparsity": res["sparsity"],
            "remaining": 1.0 - res["sparsity"],
            "test_accuracy": res["test_accuracy"],
            "rewind_step": cfg.rewind_step,
            "pretrain": cfg.pretrain,
            "pretrain_size": rew["train_size"],
            "rewind_accuracy": rew["test_accuracy"],
            "steps": res["steps"],
            "train_seconds": res["seconds"],
            "run_dir": str(job.path(out)),
        }
        for k, a in enumerate(res["per_class_accuracy"]):
            row[f"class_{k}_accuracy"] = a
        rows.append(row)
    results = pd.DataFrame(rows)
    first = jobs[0][1]
    rd = RunDir(out, "lottery", {"dataset": spec.key(), "lottery": cfg, "scores": first.rewind.config()["subset"]})
    rd.create()
    results_path = rd.file("results.parquet")
    atomic_write_parquet(results_path, results)
    figures = {
        "accuracy": str(accuracy_vs_remaining(results, rd.file("accuracy_vs_remaining.png"), title=_title(spec, cfg)))
    }
    atomic_write_json(
        rd.file("summary.json"),
        to_jsonable(
            {
                "dataset": spec.key(),
                "config": cfg,
                "results": str(results_path),
                "figures": figures,
                "command": command,
                "runtime": runtime_info(),
            }
        ),
    )
    return LotteryResult(config=cfg, results=results, path=rd.path, results_path=results_path, figures=figures)


def _title(spec: DatasetSpec, cfg: LotteryConfig) -> str:
    t = cfg.train
    return (
        f"{spec.name}, {t.model}, {t.epochs} epochs, rewind to step {cfg.rewind_step} "
        f"(pre-training: {cfg.pretrain}), rate {cfg.rate:g}, {cfg.replicates} replicate(s)"
    )


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
        kind, size = parse_pretrain(self.pretrain)
        if size is not None and size < self.train.batch_size:
            raise DataDietError(f"pretrain size must be >= the batch size {self.train.batch_size}, got {size}")
        if kind != "full" and self.from_step == 0:
            raise DataDietError(f"pretrain {self.pretrain!r} needs from_step > 0 (no pre-training at step 0)")
        if self.copies < 2:
            raise DataDietError(f"copies must be >= 2 (connectivity compares pairs), got {self.copies}")
        check_positive_int("replicates", self.replicates)


def lmc_jobs(spec: DatasetSpec, cfg: LmcConfig, *, scores=None) -> list[LmcJob]:
    """One :class:`LmcJob` per replicate (checks the step against the schedule)."""
    total = cfg.train.total_steps(spec.load().num_train)
    if cfg.from_step > total:
        raise DataDietError(f"from step must be <= the schedule's {total} steps, got {cfg.from_step}")
    jobs = []
    for r in range(cfg.replicates):
        tcfg = cfg.train.with_seed(r)
        rewind = RewindJob(spec, tcfg, cfg.from_step, pretrain_subset(spec, cfg.pretrain, seed=r, scores=scores))
        jobs.append(LmcJob(spec, tcfg, rewind, copies=cfg.copies))
    return jobs


@dataclass
class LmcResult:
    config: LmcConfig
    results: pd.DataFrame
    path: Path
    scores_path: Path
    figures: dict[str, str]


def run_lmc(
    dataset: Dataset | DatasetSpec,
    cfg: LmcConfig,
    *,
    out: str | Path,
    scores=None,
    executor=None,
    device: str = "cpu",
    progress: ProgressFactory | None = None,
    command: str | None = None,
) -> LmcResult:
    """Connectivity of ``cfg.copies`` copies per replicate; writes ``OUT/lmcrun_<hash>/results.parquet``
    (one row per replicate), ``scores.parquet`` (the per-example barrier, mean over replicates and
    pairs, a score table) and the error-along-the-path figure."""
    from datadiet.plots.lottery import interpolation_paths

    out = Path(out)
    spec = as_spec(dataset)
    ds = spec.load()
    jobs = lmc_jobs(spec, cfg, scores=scores)
    run_jobs(jobs, ctx=Context(out, device=device, progress=progress), executor=executor)
    rows, paths, per_example = [], [], []
    for r, job in enumerate(jobs):
        res, rew = job.result(out), job.rewind.result(out)
        rows.append(
            {
                "replicate": r,
                "from_step": cfg.from_step,
                "pretrain": cfg.pretrain,
                "pretrain_size": rew["train_size"],
                "rewind_accuracy": rew["test_accuracy"],
                "error_barrier": res["error_barrier"],
                "train_ce_barrier_mean": res["train_ce_barrier_mean"],
                "path": [float(v) for v in np.mean(res["test_error_paths"], axis=0)],  # mean over pairs
                "run_dir": str(job.path(out)),
            }
        )
        paths += res["test_error_paths"]
        per_example.append(read_score_table(job.path(out) / "scores.parquet")["score"].to_numpy())
    results = pd.DataFrame(rows)
    rd = RunDir(out, "lmcrun", {"dataset": spec.key(), "lmc": cfg, "jobs": [j.key() for j in jobs]}).create()
    atomic_write_parquet(rd.file("results.parquet"), results)
    scores_path = rd.file("scores.parquet")
    atomic_write_parquet(scores_path, score_table(ds, np.stack(per_example, axis=1), list(range(len(jobs)))))
    title = f"{spec.name}, {cfg.train.model}, from step {cfg.from_step} (pre-training: {cfg.pretrain})"
    figures = {"path": str(interpolation_paths(ALPHAS, paths, rd.file("error_along_path.png"), title=title))}
    atomic_write_json(
        rd.file("summary.json"),
        to_jsonable(
            {
                "dataset": spec.key(),
                "method": "lmc-barrier",
                "config": cfg,
                "results": str(rd.file("results.parquet")),
                "scores": str(scores_path),
                "figures": figures,
                "command": command,
                "runtime": runtime_info(),
                "error_barrier": float(results["error_barrier"].mean()),
            }
        ),
    )
    return LmcResult(config=cfg, results=results, path=rd.path, scores_path=scores_path, figures=figures)


__all__ = [
    "BRANCHES",
    "PRETRAIN_KINDS",
    "LevelJob",
    "LmcConfig",
    "LmcJob",
    "LmcResult",
    "LotteryConfig",
    "LotteryResult",
    "RewindJob",
    "lmc_jobs",
    "lottery_jobs",
    "parse_pretrain",
    "pretrain_subset",
    "run_lmc",
    "run_lottery",
]

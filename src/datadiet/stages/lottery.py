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
from typing import ClassVar

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.engine.datasets import DatasetSpec
from datadiet.engine.jobs import Context, Job
from datadiet.engine.weights import BuildsModel, RunDirCheckpointer, cpu_state, load_weights
from datadiet.errors import DataDietError
from datadiet.lottery import (
    ALPHAS,
    LMC_THRESHOLD,
    dense_masks,
    error_barrier,
    interpolate,
    lmc_fraction,
    magnitude_prune,
    pairwise_barriers,
    path_barriers,
    random_masks_like,
    sparsity,
)
from datadiet.models import build_model
from datadiet.runs import RunDir, atomic_torch_save, atomic_write_parquet, read_parquet_file, runtime_info
from datadiet.scores import loss_and_error
from datadiet.stages.score import score_table
from datadiet.stages.select import SelectJob
from datadiet.training import TrainConfig, evaluate, train
from datadiet.training.trainer import derived_seed
from datadiet.validation import check_choice, check_copies, check_positive_int, check_rate, check_step_in_schedule

BRANCHES = ("imp", "random-prune", "random-reinit")
LMC_SEED_OFFSET = 20_000  # data-order/augmentation seeds of LMC copies, apart from everything else
LMC_MEASURES = 2  # 2: per-example loss and 0-1 error barriers along the whole path (per_example.parquet)
PER_EXAMPLE = "per_example.parquet"


@dataclass(frozen=True)
class RewindJob(BuildsModel, Job):
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
        check_step_in_schedule("rewind step", self.step, total)
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
        atomic_torch_save(rd.file("w_k.pt"), cpu_state(model))
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
class LevelJob(BuildsModel, Job):
    """IMP level ``level`` (or one of its random baselines, ``branch``), trained from ``rewind``."""

    data: DatasetSpec
    train: TrainConfig
    rewind: RewindJob
    level: int
    rate: float = 0.2
    exclude: tuple[str, ...] = ()
    branch: str = "imp"
    role: str = field(default="", compare=False)  # what progress calls it (an LMC copy); not in the key
    kind: ClassVar[str] = "imp"

    def __post_init__(self):
        check_positive_int("level", self.level, allow_zero=True)
        check_choice("branch", self.branch, BRANCHES)
        check_rate("rate", self.rate)
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
        what = self.role or f"{self.branch} level {self.level}"
        return f"{what} (seed {self.train.init_seed}, rewind {self.rewind.step})"

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
            init = cpu_state(self.model(ds, seed=derived_seed(self.train.init_seed, self.level, 0x1E1)))
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
        state = cpu_state(res.model)
        atomic_torch_save(rd.file("model.pt"), state)
        pruned_nonzero = sum(int((state[n][m == 0] != 0).sum()) for n, m in masks.items())
        if pruned_nonzero:  # pragma: no cover - the trainer holds them at zero; never report a wrong sparsity
            raise DataDietError(f"{pruned_nonzero} pruned weights moved away from zero in {self.describe()}")
        return {
            "level": self.level,
            "branch": self.branch,
            "sparsity": sparsity(masks),
            "test_accuracy": res.test_accuracy,
            **({"val_accuracy": res.val_accuracy} if res.val_accuracy is not None else {}),
            "per_class_accuracy": res.per_class_accuracy,
            "steps": res.steps,
            "examples_seen": res.examples_seen,
            "seconds": res.seconds,
            "runtime": {**runtime_info(), "device": ctx.device},
        }

    def cleanup(self, rd: RunDir) -> None:
        RunDirCheckpointer(rd.path).clear_state()


@dataclass(frozen=True)
class LmcJob(BuildsModel, Job):
    """Linear mode connectivity of ``copies`` dense networks trained from ``rewind`` with different
    data-order and augmentation seeds."""

    data: DatasetSpec
    train: TrainConfig
    rewind: RewindJob
    copies: int = 2
    kind: ClassVar[str] = "lmc"
    marker: ClassVar[str] = "summary.json"

    def __post_init__(self):
        check_copies(self.copies)

    def config(self) -> dict:
        return {
            "dataset": self.data.key(),
            "train": self.train,
            "rewind": self.rewind.key(),
            "copies": self.copies,
            "measures": LMC_MEASURES,
        }

    def copy(self, i: int) -> LevelJob:
        seed = LMC_SEED_OFFSET + 100 * self.train.order_seed + i
        train = replace(self.train, order_seed=seed, aug_seed=seed)
        return LevelJob(self.data, train, self.rewind, level=0, role=f"connectivity copy {i + 1} of {self.copies}")

    def deps(self) -> tuple[Job, ...]:
        return tuple(self.copy(i) for i in range(self.copies))

    def describe(self) -> str:
        return f"connectivity from step {self.rewind.step} ({self.copies} copies, seed {self.train.init_seed})"

    def _pair(self, model, a: dict, b: dict, ds: Dataset) -> tuple[list, np.ndarray, np.ndarray]:
        """Along the path from ``a`` to ``b``: the test error at every alpha, and every training
        example's midpoint train-loss barrier and 0-1 error barrier (:func:`path_barriers`)."""
        errors, losses, wrong = [], [], []
        for alpha in ALPHAS:
            model.load_state_dict(interpolate(a, b, alpha))
            acc, _ = evaluate(model, ds.x_test, ds.y_test, ds.num_classes)
            errors.append(1.0 - acc)
            loss, err = loss_and_error(model, ds.x_train, ds.y_train)
            losses.append(loss)
            wrong.append(err)
        return errors, *path_barriers(np.stack(losses), np.stack(wrong))

    def run(self, rd: RunDir, ctx: Context) -> dict:
        ds = self.data.load()
        states = [self.copy(i).final_weights(ctx.out) for i in range(self.copies)]
        model = self.copy(0).model(ds).to(ctx.device)
        paths, barriers, loss_b, error_b = [], [], [], []
        for i, j in pairwise_barriers(states):
            errors, lb, eb = self._pair(model, states[i], states[j], ds)
            paths.append(errors)
            barriers.append(error_barrier(errors))
            loss_b.append(lb)
            error_b.append(eb)
        per_pair = np.stack(loss_b, axis=1)  # (N, pairs)
        table = score_table(ds, per_pair, list(range(per_pair.shape[1])))
        atomic_write_parquet(rd.file("scores.parquet"), table)
        loss_mean, error_mean = per_pair.mean(axis=1), np.stack(error_b, axis=1).mean(axis=1)
        examples = pd.DataFrame({"index": ds.index, "loss_barrier": loss_mean, "error_barrier": error_mean})
        atomic_write_parquet(rd.file(PER_EXAMPLE), examples)
        return {
            "method": "lmc-barrier",
            "rewind_step": self.rewind.step,
            "alphas": list(ALPHAS),
            "test_error_paths": paths,
            "error_barrier": float(np.mean(barriers)),
            "error_barriers": barriers,
            "train_ce_barrier_mean": float(per_pair.mean()),
            "lmc_threshold": LMC_THRESHOLD,
            "lmc_fraction": lmc_fraction(loss_mean, LMC_THRESHOLD),
            "lmc_fraction_error": lmc_fraction(error_mean, 0.0),
            "dataset": self.data.key(),
            "num_examples": ds.num_train,
            "runtime": {**runtime_info(), "device": ctx.device},
        }

    def per_example(self, out) -> pd.DataFrame:
        """Every training example's barriers (index, loss_barrier, error_barrier; mean over pairs)."""
        return read_parquet_file(self.path(out) / PER_EXAMPLE, "per-example barriers")

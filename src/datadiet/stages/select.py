"""Selection jobs: which training examples a pruned run keeps.

A :class:`SelectJob` reads the score table of the scoring job it names (or none, for random
pruning, or indices given explicitly), calls :func:`datadiet.selection.select` and writes
``indices.npy`` (sorted int64) and ``result.json`` (how many were kept, per class) to its run
directory ``select_<hash>``. A training job names the selection job, so the plan is known before any
score exists, and the kept indices are on disk beside the run that used them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from datadiet.defaults import DEFAULT_CCS_BINS
from datadiet.engine.datasets import DatasetSpec
from datadiet.engine.jobs import Context, Job
from datadiet.errors import DataDietError
from datadiet.runs import RunDir, atomic_save_npy, config_hash
from datadiet.selection import STRATEGIES, kept_per_class, select, strategy_options
from datadiet.stages.score import ScoreJob, TableScoreJob, read_score_table
from datadiet.validation import check_choice, check_fraction, check_indices, check_positive_int

GIVEN = "given"  # explicit indices, not chosen here


@dataclass(frozen=True)
class SelectJob(Job):
    """Keep ``keep`` (a fraction of the training set) by ``strategy`` on the scores of ``scores``.

    ``scores`` is a :class:`~datadiet.stages.score.ScoreJob` (or a :class:`TableScoreJob`) (None with ``strategy="random"``);
    ties are broken by ``seed``. The options mean what they mean in :func:`datadiet.selection.select`;
    those a strategy does not use are left out of the key.
    """

    data: DatasetSpec
    keep: float
    strategy: str = "hardest"
    seed: int = 0
    balanced: bool = False
    offset: float = 0.0
    hard_cutoff: float = 0.0
    bins: int = DEFAULT_CCS_BINS
    scores: ScoreJob | TableScoreJob | None = None
    given_hash: str | None = None
    given_indices: tuple[int, ...] | None = field(default=None, compare=False, repr=False)
    kind: ClassVar[str] = "select"

    def __post_init__(self):
        check_fraction("keep", self.keep)
        check_choice("strategy", self.strategy, (*STRATEGIES, GIVEN))
        check_positive_int("seed", self.seed, allow_zero=True)
        if self.scores is None and self.strategy not in ("random", GIVEN):
            raise DataDietError(f"strategy {self.strategy!r} needs scores (a scoring job)")
        if self.strategy == GIVEN and self.given_indices is None:
            raise DataDietError("strategy 'given' needs the indices: use SelectJob.given()")

    @classmethod
    def given(cls, data: DatasetSpec, indices) -> SelectJob:
        """A selection of explicit indices (validated against the dataset's size)."""
        n = data.load().num_train
        idx = check_indices("subset", indices, n)
        if idx.size == 0:
            raise DataDietError("subset must hold at least one training example, got 0")
        return cls(
            data=data,
            keep=idx.size / n,
            strategy=GIVEN,
            given_hash=config_hash(idx.tolist(), 16),
            given_indices=tuple(idx.tolist()),
        )

    def options(self) -> dict:
        """The keyword options of :func:`select` this strategy uses."""
        if self.strategy == GIVEN:
            return {}
        extra = strategy_options(self.strategy, offset=self.offset, hard_cutoff=self.hard_cutoff, bins=self.bins)
        return {"balanced": self.balanced, **extra}

    def config(self) -> dict:
        if self.strategy == GIVEN:
            return {"dataset": self.data.key(), "given": self.given_hash}
        return {
            "dataset": self.data.key(),
            "keep": self.keep,
            "strategy": self.strategy,
            "seed": self.seed,
            "options": self.options(),
            "scores": None if self.scores is None else self.scores.key(),
        }

    def deps(self) -> tuple[Job, ...]:
        return () if self.scores is None else (self.scores,)

    def describe(self) -> str:
        if self.strategy == GIVEN:
            return f"{len(self.given_indices or ())} given examples"
        method = "random" if self.scores is None else self.scores.label
        return f"{method} pruned {1 - self.keep:.0%} (seed {self.seed})"

    def run(self, rd: RunDir, ctx: Context) -> dict:
        ds = self.data.load()
        labels = ds.y_train.numpy()
        if self.strategy == GIVEN:
            idx = np.asarray(self.given_indices, dtype=np.int64)
        else:
            if self.scores is None:
                scores = np.zeros(len(labels))
            else:
                scores = read_score_table(self.scores.table_path(ctx.out), dataset=ds)["score"].to_numpy()
            idx = select(
                scores, keep=self.keep, strategy=self.strategy, seed=self.seed, labels=labels, **self.options()
            )
        if idx.size == 0:
            raise DataDietError(f"keeping {self.keep} prunes every example of {len(labels)}")
        atomic_save_npy(rd.file("indices.npy"), idx)
        return {
            "kept": int(idx.size),
            "total": len(labels),
            "strategy": self.strategy,
            "per_class": kept_per_class(idx, labels, list(ds.class_names)).to_dict(orient="records"),
        }

    def indices(self, out: str | Path) -> np.ndarray:
        """The kept indices of this (finished) selection."""
        if self.given_indices is not None:
            return np.asarray(self.given_indices, dtype=np.int64)
        path = self.path(out) / "indices.npy"
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataDietError(f"selection {self.key()} has not run yet (no {path})") from None
        except (OSError, ValueError) as e:
            raise DataDietError(f"corrupt selection {path}: {type(e).__name__}; delete its folder to redo it") from None

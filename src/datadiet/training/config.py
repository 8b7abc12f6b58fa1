"""Training hyperparameters as a frozen dataclass (open_lth style)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from datadiet.errors import DataDietError
from datadiet.models import check_model, is_user_model, source_hash
from datadiet.validation import check_choice, check_fraction, check_positive_float, check_positive_int

SCHEDULES = ("onecycle", "cosine", "step", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that affects a training run's result.

    The three seeds are independent: ``init_seed`` (weights), ``order_seed`` (the per-epoch
    permutation of the training indices) and ``aug_seed`` (crops and flips). ``steps``, when set,
    fixes the number of optimiser steps regardless of the subset size (the equal-steps budget of
    the data-diet paper); otherwise the run lasts ``epochs`` passes over the (sub)set. ``augment``
    None uses the dataset's default (see :class:`datadiet.data.Augment`). ``model`` is a built-in
    name, ``package.module:factory``, a factory or an ``nn.Module`` (:mod:`datadiet.models.user`);
    for a user model ``model_hash`` is filled in with its source's hash, so it is part of run keys.
    """

    model: str = "cnn"
    width: float = 1.0
    model_hash: str = field(default="", metadata={"omit_default": True})  # a user model's source hash
    epochs: int = 8
    steps: int | None = None
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup: float = 0.2
    augment: bool | None = None
    label_smoothing: float = 0.0
    init_seed: int = 0
    order_seed: int = 0
    aug_seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "model", check_model(self.model))
        if is_user_model(self.model) and not self.model_hash:
            object.__setattr__(self, "model_hash", source_hash(self.model))  # in the run keys
        check_positive_int("epochs", self.epochs)
        if self.steps is not None:
            check_positive_int("steps", self.steps)
        check_positive_int("batch_size", self.batch_size)
        check_positive_float("lr", self.lr)
        check_fraction("momentum", self.momentum, allow_one=False)
        check_positive_float("weight_decay", self.weight_decay, allow_zero=True)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_fraction("warmup", self.warmup, allow_one=False)
        check_fraction("label_smoothing", self.label_smoothing, allow_one=False)
        for s in ("init_seed", "order_seed", "aug_seed"):
            check_positive_int(s, getattr(self, s), allow_zero=True)
        check_positive_float("width", self.width)

    def steps_per_epoch(self, n_train: int) -> int:
        return max(1, math.ceil(n_train / self.batch_size))

    def total_steps(self, n_train: int) -> int:
        return self.steps if self.steps is not None else self.epochs * self.steps_per_epoch(n_train)

    def with_seed(self, seed: int) -> TrainConfig:
        """The same config with init, order and augmentation seeds all set from one seed."""
        return replace(self, init_seed=seed, order_seed=seed, aug_seed=seed)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise DataDietError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def lr_at(config: TrainConfig, step: int, total: int) -> float:
    """Learning rate for optimiser step ``step`` (0-based) of ``total``."""
    t = step / max(1, total)
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "step":  # the paper's x0.2 at 30%, 60%, 80% of training
        return config.lr * 0.2 ** sum(t >= m for m in (0.3, 0.6, 0.8))
    w = config.warmup
    if w > 0 and t < w:
        return config.lr * (step + 1) / max(1, round(w * total))
    u = (t - w) / max(1e-12, 1 - w)
    if config.schedule == "onecycle":  # linear warm-up, then linear decay to zero
        return config.lr * max(0.0, 1 - u)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, u)))

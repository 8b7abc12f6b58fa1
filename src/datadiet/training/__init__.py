"""The trainer: on an in-memory Dataset, or on a lazy source read batch by batch through a DataLoader."""

from datadiet.training.config import SCHEDULES, TrainConfig, lr_at
from datadiet.training.feed import Source, predict_source
from datadiet.training.trainer import (
    BatchHook,
    TrainResult,
    apply_masks,
    derived_seed,
    epoch_permutation,
    evaluate,
    predict_logits,
    train,
)

__all__ = [
    "SCHEDULES",
    "Source",
    "BatchHook",
    "TrainConfig",
    "TrainResult",
    "apply_masks",
    "derived_seed",
    "epoch_permutation",
    "evaluate",
    "lr_at",
    "predict_logits",
    "predict_source",
    "train",
]

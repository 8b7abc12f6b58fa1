"""The in-memory trainer."""

from datadiet.training.config import SCHEDULES, TrainConfig, lr_at
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
    "BatchHook",
    "TrainConfig",
    "TrainResult",
    "apply_masks",
    "derived_seed",
    "epoch_permutation",
    "evaluate",
    "lr_at",
    "predict_logits",
    "train",
]

"""Lottery tickets (pure): magnitude-pruning masks, random baselines, and linear mode connectivity.

Tensors in, tensors out, no files; the IMP levels, rewinding and LMC runs are jobs in
:mod:`datadiet.stages.lottery`.
"""

from datadiet.lottery.connectivity import (
    ALPHAS,
    LMC_THRESHOLD,
    LMC_THRESHOLDS,
    error_barrier,
    interpolate,
    lmc_fraction,
    pairwise_barriers,
    path_barriers,
)
from datadiet.lottery.masks import (
    check_levels,
    dense_masks,
    magnitude_prune,
    prunable_weights,
    random_masks_like,
    remaining_after,
    sparsity,
)
from datadiet.lottery.pretrain import PRETRAIN_KINDS, check_pretrain, parse_pretrain

__all__ = [
    "ALPHAS",
    "LMC_THRESHOLD",
    "LMC_THRESHOLDS",
    "PRETRAIN_KINDS",
    "check_levels",
    "check_pretrain",
    "dense_masks",
    "error_barrier",
    "interpolate",
    "lmc_fraction",
    "magnitude_prune",
    "pairwise_barriers",
    "path_barriers",
    "parse_pretrain",
    "prunable_weights",
    "random_masks_like",
    "remaining_after",
    "sparsity",
]

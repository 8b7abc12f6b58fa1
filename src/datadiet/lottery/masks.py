"""Masks for iterative magnitude pruning (open_lth's ``sparse_global``): one global pool of every
Conv and Linear weight, pruned by magnitude among the weights that remain.

A mask is ``{parameter name: float tensor of 0s and 1s}`` over the prunable weights only; biases and
normalisation parameters are never pruned. ``sparsity`` is the fraction of prunable weights that are
zero in the mask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from datadiet.errors import DataDietError
from datadiet.validation import check_positive_int, check_rate

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_weights(model: nn.Module, *, exclude: Iterable[str] = ()) -> list[str]:
    """Names of the ``weight`` parameters of every Conv and Linear layer, in model order, except the
    layers named in ``exclude`` (module names as in ``model.named_modules()``, e.g. ``"fc"``)."""
    exclude = set(exclude)
    modules = dict(model.named_modules())
    unknown = sorted(exclude - set(modules))
    if unknown:
        layers = [n for n, m in modules.items() if isinstance(m, PRUNABLE)]
        raise DataDietError(f"exclude names no layer of the model: {', '.join(unknown)}; prunable: {', '.join(layers)}")
    names = [
        f"{n}.weight" if n else "weight" for n, m in modules.items() if isinstance(m, PRUNABLE) and n not in exclude
    ]
    if not names:
        raise DataDietError("the model has no Conv or Linear weight left to prune")
    return names


def dense_masks(model: nn.Module, *, exclude: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """Level 0: all ones over the prunable weights."""
    params = dict(model.named_parameters())
    return {
        n: torch.ones_like(params[n], dtype=torch.float32, device="cpu")
        for n in prunable_weights(model, exclude=exclude)
    }


def sparsity(masks: dict[str, torch.Tensor]) -> float:
    total = sum(m.numel() for m in masks.values())
    return 1.0 - float(sum(m.sum() for m in masks.values())) / max(1, total)


def magnitude_prune(
    weights: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], *, rate: float
) -> dict[str, torch.Tensor]:
    """The next level's masks: prune ``ceil(rate * remaining)`` of the weights still remaining in
    ``masks``, those of smallest ``|weight|`` over one global pool of every masked layer.

    ``weights`` are the previous level's final trained weights (only the names in ``masks`` are
    read). Weights already pruned stay pruned, whatever their value. Exact ties at the threshold
    (measure-zero for trained weights) go by position in the pool.
    """
    rate = check_rate("rate", rate)
    names = list(masks)
    missing = [n for n in names if n not in weights]
    if missing:
        raise DataDietError(f"weights lack the masked parameter(s) {', '.join(missing)}")
    remaining = [weights[n].detach().cpu().abs().flatten()[masks[n].flatten() > 0] for n in names]
    pool = torch.cat(remaining).double()
    k = math.ceil(rate * pool.numel())
    drop = torch.zeros(pool.numel(), dtype=torch.bool)
    drop[torch.argsort(pool, stable=True)[:k]] = True
    out, start = {}, 0
    for n, r in zip(names, remaining):
        m = masks[n].detach().cpu().clone().float().flatten()
        alive = torch.nonzero(m > 0).flatten()
        m[alive[drop[start : start + r.numel()]]] = 0.0
        start += r.numel()
        out[n] = m.view_as(masks[n])
    return out


def remaining_after(n: int, *, rate: float, levels: int) -> list[int]:
    """How many of ``n`` prunable weights remain at levels 0..``levels`` of :func:`magnitude_prune`
    (each level drops ``ceil(rate * remaining)``), stopping early at 0."""
    rate = check_rate("rate", rate)
    counts = [check_positive_int("n", n, allow_zero=True)]
    while len(counts) <= check_positive_int("levels", levels, allow_zero=True) and counts[-1] > 0:
        counts.append(counts[-1] - math.ceil(rate * counts[-1]))
    return counts


def check_levels(n: int, *, rate: float, levels: int) -> int:
    """``levels`` if every one of them keeps at least one of the ``n`` prunable weights; otherwise a
    one-line error naming how many levels do (a network without weights trains at chance)."""
    counts = remaining_after(n, rate=rate, levels=levels)
    if counts[-1] < 1:
        most = len(counts) - 2  # the last level with a weight left
        raise DataDietError(
            f"levels={levels} at rate {rate:g} would prune all {n:,} prunable weights; "
            f"at most {most} level(s) keep at least one"
        )
    return levels


def random_masks_like(masks: dict[str, torch.Tensor], *, seed: int) -> dict[str, torch.Tensor]:
    """Random pruning at the same per-layer sparsity: each layer keeps as many weights as in
    ``masks``, at positions drawn from ``seed``."""
    check_positive_int("seed", seed, allow_zero=True)
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for n, m in masks.items():
        kept = int(m.sum())
        flat = torch.zeros(m.numel())
        flat[torch.randperm(m.numel(), generator=g)[:kept]] = 1.0
        out[n] = flat.view_as(m)
    return out

"""Linear mode connectivity: interpolate two networks and measure the barrier between them.

``interpolate`` mixes every floating-point tensor of two state dicts (parameters and buffers such
as batch-norm running means and variances); integer buffers (``num_batches_tracked``) are taken from
the first. The error barrier along a path is ``max over alpha of error(alpha)`` minus the mean of
the two endpoints' errors (Frankle et al. 2020); the per-example barrier at ``alpha = 0.5`` is the
cross-entropy of the midpoint minus the mean of the endpoints'.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from datadiet.errors import DataDietError

ALPHAS = tuple(round(a / 10, 1) for a in range(11))  # 0, 0.1, ..., 1


def interpolate(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * a + alpha * b`` for every floating tensor; other tensors from ``a``."""
    if set(a) != set(b):
        raise DataDietError("the two state dicts hold different tensors")
    if not (0.0 <= float(alpha) <= 1.0):
        raise DataDietError(f"alpha must be in [0, 1], got {alpha!r}")
    out = {}
    for k, va in a.items():
        vb = b[k]
        if va.shape != vb.shape:
            raise DataDietError(f"tensor {k!r} has shape {tuple(va.shape)} and {tuple(vb.shape)}")
        out[k] = torch.lerp(va, vb.to(va.dtype), float(alpha)) if va.is_floating_point() else va.clone()
    return out


def error_barrier(errors) -> float:
    """max over the path of the error, minus the mean of the endpoints' errors (first and last)."""
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise DataDietError(f"errors must be a path of at least 2 values, got shape {e.shape}")
    return float(e.max() - 0.5 * (e[0] + e[-1]))


def pairwise_barriers(values: list) -> list[tuple[int, int]]:
    """The unordered pairs of copies an LMC run compares: (0, 1), (0, 2), (1, 2), ..."""
    if len(values) < 2:
        raise DataDietError(f"connectivity needs at least 2 copies, got {len(values)}")
    return list(itertools.combinations(range(len(values)), 2))

"""Scoring a training set in shards: the plan (contiguous row ranges) and the merge, pure.

A shard is a range ``[start, stop)`` of training rows. :func:`plan_shards` cuts ``n`` rows into
shards of whole scoring batches (``shard_rows`` rounded up to a multiple of ``batch_size``; the last
shard holds the rest), so every batch a shard is scored in is one of the batches the in-process pass
over all ``n`` rows scores: the per-example values are then the same to the bit whatever the
numerical backend does with a batch's size. :func:`score_shard` scores one shard's rows as the
in-process pass does (:data:`~datadiet.scores.methods.MODEL_METHODS`), and :func:`merge_shards` puts
the shards' values back in row order, refusing a row that is missing or scored twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from torch import nn

from datadiet.errors import DataDietError
from datadiet.scores._common import _default_batch
from datadiet.scores.methods import MODEL_METHODS
from datadiet.validation import check_choice, check_positive_int

MAX_SHARD_ROWS = 1 << 15  # a default shard is at most this many rows (about 100 MB of 28x28 float32 inputs)
SHARDS_PER_WORKER = 4  # default shards per worker: a slow worker holds up the end less


def method_batch_size(method: str) -> int:
    """The batch size ``method`` scores in by default (what the in-process pass uses)."""
    check_choice("method", method, tuple(MODEL_METHODS))
    return _default_batch(MODEL_METHODS[method])


def default_shard_rows(n: int, workers: int, batch_size: int) -> int:
    """About :data:`SHARDS_PER_WORKER` shards per worker, at most :data:`MAX_SHARD_ROWS` rows each."""
    per = math.ceil(max(1, n) / (SHARDS_PER_WORKER * check_positive_int("workers", workers)))
    return max(1, min(per, MAX_SHARD_ROWS))


def plan_shards(n: int, *, shard_rows: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering rows ``0..n-1`` in order, each shard ``shard_rows`` rounded up
    to whole batches of ``batch_size`` (the last one shorter)."""
    n = check_positive_int("n", n, allow_zero=True)
    shard_rows = check_positive_int("shard_rows", shard_rows)
    batch_size = check_positive_int("batch_size", batch_size)
    rows = math.ceil(shard_rows / batch_size) * batch_size
    return [(start, min(n, start + rows)) for start in range(0, n, rows)]


def score_shard(model: nn.Module, method: str, x, y, *, batch_size: int) -> np.ndarray:
    """One shard's scores: ``method`` on its rows ``(x, y)``, in batches of ``batch_size`` from its first row."""
    check_choice("method", method, tuple(MODEL_METHODS))
    return np.asarray(MODEL_METHODS[method](model, x, y, batch_size=batch_size), dtype=np.float64)


def merge_shards(n: int, parts: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The values of ``parts`` (``(rows, values)`` pairs, in any order and any grouping) as one array
    of ``n`` in row order; a row that no part holds, or that two parts hold, is refused."""
    out = np.full(n, np.nan, dtype=np.float64)
    seen = np.zeros(n, dtype=bool)
    for rows, values in parts:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if rows.shape != values.shape:
            raise DataDietError(f"a shard gave {values.size} score(s) for {rows.size} row(s)")
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise DataDietError(f"a shard scored row {int(rows.max() if rows.max() >= n else rows.min())} of {n}")
        unique, counts = np.unique(rows, return_counts=True)
        twice = np.concatenate([rows[seen[rows]], unique[counts > 1]])
        if twice.size:
            raise DataDietError(f"row {int(twice[0])} was scored twice")
        seen[rows] = True
        out[rows] = values
    if not seen.all():
        raise DataDietError(f"{int((~seen).sum())} row(s) were not scored (the first: row {int(np.argmin(seen))})")
    return out


__all__ = ["default_shard_rows", "merge_shards", "method_batch_size", "plan_shards", "score_shard"]

"""Streaming passes over a dataset read chunk by chunk: the fingerprint and the per-channel mean/std.

Both give bitwise the numbers the in-memory path gives for the same arrays:
:func:`StreamFingerprint` hashes what :func:`datadiet.data.dataset.fingerprint_arrays` hashes (dtype,
shape, then the bytes in C order), and :class:`ChannelSums` adds the values in the order numpy's
``x.mean(axis=(0, 2, ...), dtype=float64)`` and ``x.std(...)`` (used by ``_standardise``) add them:

* one channel: numpy sees one contiguous run of values. A float32 -> float64 sum is accumulated
  buffer by buffer (8192 values, each buffer summed pairwise); a float64 sum is one pairwise sum over
  the whole run, which we rebuild from pairwise sums of its subtrees (leaves of at most
  :data:`LEAF` values) combined as numpy's recursion combines them;
* several channels, channels first: per example and channel, a pairwise sum of the row (of each
  8192-value buffer of it when casting), accumulated example after example;
* several channels, channels last (an (N, H, W, C) input transposed): one value after the other in
  memory order.

The mean needs one pass and the std a second (numpy's two-pass formula); a stream never holds more
than one chunk.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

BUFFER = 8192  # numpy's ufunc buffer: a casting reduction is summed buffer by buffer
LEAF = 1 << 20  # the largest pairwise subtree summed at once by np.add.reduce


class StreamFingerprint:
    """``fingerprint_arrays(*arrays)`` of arrays fed chunk by chunk (rows in order)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def start(self, dtype, shape) -> None:
        """Begin the next array: its dtype and full shape (as ``fingerprint_arrays`` hashes them)."""
        self._h.update(str(np.dtype(dtype)).encode())
        self._h.update(str(tuple(int(s) for s in shape)).encode())

    def add(self, rows: np.ndarray) -> None:
        self._h.update(np.ascontiguousarray(rows).tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:16]


def _pairwise_leaves(lo: int, n: int, out: list) -> list:
    """The ranges numpy's pairwise sum splits ``n`` values into, down to at most :data:`LEAF` each."""
    if n <= LEAF:
        out.append((lo, n))
        return out
    n2 = n // 2
    n2 -= n2 % 8
    _pairwise_leaves(lo, n2, out)
    return _pairwise_leaves(lo + n2, n - n2, out)


def _combine(n: int, sums) -> float:
    """Leaf sums (an iterator, in order) combined as numpy's pairwise recursion combines them."""
    if n <= LEAF:
        return next(sums)
    n2 = n // 2
    n2 -= n2 % 8
    a = _combine(n2, sums)
    return a + _combine(n - n2, sums)


def _sequential(acc: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``acc`` (C,) plus each row of ``values`` (M, C) one after the other."""
    if not len(values):
        return acc
    return np.add.accumulate(np.concatenate([acc[None], values]), axis=0)[-1]


class ChannelSums:
    """Per-channel sums of (n, C, ...) chunks, bitwise as numpy sums the whole (N, C, ...) array over
    every axis but 1 with ``dtype=float64``. ``cast``: the values are float32 (numpy sums them through
    its casting buffers); otherwise float64. ``channels_last``: the in-memory array is an (N, H, W, C)
    input seen through a transpose. ``total``: the number of values per channel (needed for one channel
    without casting, whose pairwise tree spans the whole array)."""

    def __init__(self, channels: int, *, cast: bool, channels_last: bool, total: int) -> None:
        self.channels, self.cast, self.total = channels, cast, total
        self.mode = "flat" if channels == 1 else ("memory" if channels_last else "rows")
        self.acc = np.zeros(channels, dtype=np.float64)
        self._pending = np.empty(0, dtype=np.float64)
        self._leaves = _pairwise_leaves(0, total, []) if self.mode == "flat" and not cast else []
        self._leaf_sums: list[float] = []

    def add(self, x: np.ndarray) -> None:
        if self.mode == "memory":
            self.acc = _sequential(self.acc, np.moveaxis(x, 1, -1).reshape(-1, self.channels).astype(np.float64))
        elif self.mode == "rows":
            self._add_rows(x.reshape(x.shape[0], self.channels, -1))
        else:
            self._add_flat(x.reshape(-1))

    def _add_rows(self, x: np.ndarray) -> None:
        d = x.shape[2]
        step = BUFFER if self.cast else d
        blocks = [np.add.reduce(x[:, :, i : i + step].astype(np.float64), axis=2) for i in range(0, d, step)]
        per_row = np.stack(blocks, axis=2)  # (n, C, blocks): summed example by example, block by block
        self.acc = _sequential(self.acc, np.moveaxis(per_row, 1, -1).reshape(-1, self.channels))

    def _add_flat(self, values: np.ndarray) -> None:
        pending = np.concatenate([self._pending, values.astype(np.float64)])
        if self.cast:
            full = (pending.size // BUFFER) * BUFFER
            sums = np.add.reduce(pending[:full].reshape(-1, BUFFER), axis=1)
            self.acc = _sequential(self.acc, sums[:, None])
            self._pending = pending[full:]
            return
        used = 0
        while len(self._leaf_sums) < len(self._leaves):
            size = self._leaves[len(self._leaf_sums)][1]
            if pending.size - used < size:
                break
            self._leaf_sums.append(np.add.reduce(pending[used : used + size]))
            used += size
        self._pending = pending[used:]

    def result(self) -> np.ndarray:
        """The per-channel sums of everything added (the stream must be complete)."""
        if self.mode != "flat":
            return self.acc
        if self.cast:
            rest = np.add.reduce(self._pending) if self._pending.size else None
            return self.acc if rest is None else _sequential(self.acc, np.asarray([[rest]]))
        if len(self._leaf_sums) != len(self._leaves) or self._pending.size:
            raise RuntimeError(f"ChannelSums got {sum(s for _, s in self._leaves[: len(self._leaf_sums)])} values")
        return np.asarray([0.0 + _combine(self.total, iter(self._leaf_sums))])


def streaming_mean_std(chunks, *, channels: int, channels_last: bool, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (std 0 -> 1) of float32 (n, C, ...) chunks, bitwise as
    ``_standardise`` computes them in memory. ``chunks`` is a function giving a fresh iterator over
    the chunks (called twice: the mean, then the squared deviations); ``count`` is values per channel."""
    sums = ChannelSums(channels, cast=True, channels_last=channels_last, total=count)
    for x in chunks():
        sums.add(x)
    mean = sums.result() / count
    shape = None
    squares = ChannelSums(channels, cast=False, channels_last=channels_last, total=count)
    for x in chunks():
        shape = shape or (1, -1) + (1,) * (x.ndim - 2)
        squares.add(np.square(x - mean.reshape(shape)))
    std = np.sqrt(squares.result() / count)
    return mean, np.where(std > 0, std, 1.0)


def values_per_channel(n: int, example_shape: tuple[int, ...]) -> int:
    """How many values each channel of ``n`` examples of shape (C, ...) holds."""
    return n * math.prod(example_shape[1:])

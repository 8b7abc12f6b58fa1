"""Inputs read lazily: a tensor-like view of a lazy source's rows, for a :class:`~datadiet.data.dataset.Dataset`.

A :class:`LazyRows` stands for the normalised float32 inputs of one part (train or test) of a lazy
source (``npy:DIR``, ``parquet:DIR``, ``folder:PATH``, a torch Dataset from the API), optionally
through a map of rows (a validation split's training rows). It has the tensor's ``shape``, ``ndim``,
``dtype`` and ``len``; indexing it (an int, a slice, a list, an int array or LongTensor, a boolean
mask) reads just those rows with ``source.read`` and gives the tensor the same indexing of the
in-memory inputs gives, bitwise. :meth:`LazyRows.take` gives a view of some rows without reading
any. Nothing reads every row at once unless asked (:meth:`LazyRows.materialise`, chunk by chunk);
turning a view into an array or iterating it is refused, so nothing materialises silently.

:func:`take_rows` and :func:`per_row` let code written for tensors take either: rows of a tensor by
indexing, of a view by :meth:`~LazyRows.take`; a per-row function of a whole tensor at once, of a
view batch by batch (the same numbers: the functions it is used for reduce each row on its own).
"""

from __future__ import annotations

import numpy as np
import torch

from datadiet.errors import DataDietError

READ_ROWS = 1024  # rows read at a time by per_row and materialise (the batch predict_logits uses)


class LazyRows:
    """Rows ``rows`` (all when None) of ``part`` of ``source``, read on indexing (see the module docstring)."""

    dtype = torch.float32
    device = torch.device("cpu")

    def __init__(self, source, part: str = "train", rows=None) -> None:
        if part not in ("train", "test"):
            raise DataDietError(f"part must be train or test, got {part!r}")
        total = int(source.num_train if part == "train" else source.num_test)
        self.source, self.part = source, part
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        if self.rows is not None and self.rows.size and (self.rows.min() < 0 or self.rows.max() >= total):
            raise DataDietError(f"rows must lie in [0, {total}) for {source.name} {part}")
        n = total if self.rows is None else int(self.rows.size)
        self.shape = torch.Size((n, *source.input_shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __repr__(self) -> str:
        return f"LazyRows({self.source.name!r}, {self.part!r}, shape={tuple(self.shape)})"

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def _positions(self, key) -> np.ndarray:
        """The view's rows ``key`` names, as int64 positions in [0, len)."""
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n, dtype=np.int64)[key]
        if isinstance(key, torch.Tensor):
            key = key.detach().cpu().numpy()
        if isinstance(key, tuple):
            raise DataDietError("a lazily read input view takes one index (rows), not a tuple")
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise DataDietError(f"a boolean row mask must have shape ({n},), got {idx.shape}")
            return np.flatnonzero(idx).astype(np.int64)
        if idx.dtype.kind not in "iu":
            raise DataDietError(f"rows must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx[(idx < -n) | (idx >= n)][0])
            raise DataDietError(f"index {bad} is out of range for {n} rows of {self.source.name} {self.part}")
        return np.where(idx < 0, idx + n, idx)

    def _mapped(self, positions: np.ndarray) -> np.ndarray:
        return positions if self.rows is None else self.rows[positions]

    def __getitem__(self, key) -> torch.Tensor:
        """The rows ``key`` names, read now: what the same indexing of the in-memory tensor gives."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self[[int(key)]][0]
        positions = self._positions(key)
        if not positions.size:  # no row read
            return torch.empty((0, *self.shape[1:]), dtype=torch.float32)
        x, _ = self.source.read(self._mapped(positions), self.part)
        return x

    def take(self, rows) -> LazyRows:
        """A view of rows ``rows`` of this one (what ``x[rows]`` holds), reading nothing."""
        return LazyRows(self.source, self.part, self._mapped(self._positions(rows)))

    def materialise(self, chunk_rows: int = READ_ROWS) -> torch.Tensor:
        """Every row in memory, read ``chunk_rows`` at a time (only when asked)."""
        out = torch.empty(self.shape, dtype=torch.float32)
        for i in range(0, len(self), chunk_rows):
            out[i : i + chunk_rows] = self[i : i + chunk_rows]
        return out

    def __iter__(self):
        raise DataDietError(
            f"inputs of {self.source.name} are read lazily: index rows (x[rows]) or call materialise(), not iterate"
        )

    def __array__(self, *args, **kwargs):
        raise DataDietError(
            f"inputs of {self.source.name} are read lazily and not converted to an array whole; "
            "index the rows needed (x[rows]) or call materialise()"
        )


def is_lazy_rows(x) -> bool:
    return isinstance(x, LazyRows)


def take_rows(x, rows):
    """Rows ``rows`` of ``x``: a tensor indexed, a :class:`LazyRows` view narrowed (nothing read)."""
    return x.take(rows) if isinstance(x, LazyRows) else x[rows]


def per_row(fn, x, batch_size: int = READ_ROWS):
    """``fn(x)`` for a per-row function (a value per row from that row alone): a tensor at once, a
    :class:`LazyRows` view read ``batch_size`` rows at a time and the parts concatenated."""
    if not isinstance(x, LazyRows):
        return fn(x)
    parts = [fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    if not parts:
        return fn(torch.empty(x.shape, dtype=torch.float32))
    return torch.cat(parts) if isinstance(parts[0], torch.Tensor) else np.concatenate(parts)


__all__ = ["READ_ROWS", "LazyRows", "is_lazy_rows", "per_row", "take_rows"]

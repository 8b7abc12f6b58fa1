"""Training rows by range, for scoring in shards: in memory or read from a lazy source.

A row reader has ``len()`` and ``read(start, stop) -> (x, y)``: the normalised float32 inputs and
int64 labels of training rows ``start..stop-1``, bitwise the rows of the in-memory training tensors.
Readers are small to pickle (a Ray worker gets one once): :class:`ArrayRows` holds the arrays
(shipped once through the object store), :class:`SourceRows` a lazy source (a folder's path and the
normalisation statistics; the rows are read where it runs).
"""

from __future__ import annotations

import numpy as np
import torch

from datadiet.data.dataset import Dataset
from datadiet.data.lazy import LazyRows
from datadiet.data.sources import LazySource
from datadiet.errors import DataDietError


class ArrayRows:
    """Rows of arrays in memory (numpy, so Ray's object store shares them without copies)."""

    def __init__(self, x, y) -> None:
        self.x = np.asarray(x.numpy() if isinstance(x, torch.Tensor) else x)
        self.y = np.asarray(y.numpy() if isinstance(y, torch.Tensor) else y)
        if self.x.shape[0] != self.y.shape[0]:
            raise DataDietError(f"inputs have {self.x.shape[0]} rows but labels {self.y.shape[0]}")

    @classmethod
    def of(cls, dataset: Dataset) -> ArrayRows:
        """The training rows of an in-memory dataset."""
        return cls(dataset.x_train, dataset.y_train)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def read(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(self.x[start:stop]), torch.tensor(self.y[start:stop], dtype=torch.int64)


class SourceRows:
    """Training rows of a :class:`~datadiet.data.sources.LazySource`, read on demand (``source.read``).

    Its normalisation statistics are fixed here (computed once if the source was given none), so a
    worker that unpickles it reads rows without another pass over the data."""

    def __init__(self, source: LazySource) -> None:
        if not isinstance(source, LazySource):
            raise DataDietError(
                f"source must be a lazy source (npy:DIR, parquet:DIR, ...), got {type(source).__name__}"
            )
        _ = source.mean_std  # computed (and cached on the source) before it is shipped
        self.source = source

    def __len__(self) -> int:
        return self.source.num_train

    def read(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.source.read(np.arange(start, stop), "train")


class ViewRows:
    """Training rows of a Dataset whose inputs are read lazily (:class:`~datadiet.data.lazy.LazyRows`):
    the view's rows read on demand, the Dataset's own labels (noise and a validation split included).
    Small to pickle: the view holds its source and row map, not the rows."""

    def __init__(self, x: LazyRows, y) -> None:
        _ = x.source.mean_std  # computed (and cached on the source) before it is shipped
        self.x, self.y = x, np.asarray(y.numpy() if isinstance(y, torch.Tensor) else y)
        if len(x) != self.y.shape[0]:
            raise DataDietError(f"inputs have {len(x)} rows but labels {self.y.shape[0]}")

    def __len__(self) -> int:
        return len(self.x)

    def read(self, start: int, stop: int) -> tuple[LazyRows, torch.Tensor]:
        """Rows ``start..stop-1``: a view of them (read batch by batch as a score function uses them) and labels."""
        return self.x.take(np.arange(start, stop)), torch.tensor(self.y[start:stop], dtype=torch.int64)


def row_reader(data) -> ArrayRows | SourceRows | ViewRows:
    """A row reader for ``data``: a reader as it is, a lazy source, or a Dataset's training rows (read
    lazily when its inputs are)."""
    if isinstance(data, (ArrayRows, SourceRows, ViewRows)):
        return data
    if isinstance(data, LazySource):
        return SourceRows(data)
    if isinstance(data, Dataset) and isinstance(data.x_train, LazyRows):
        return ViewRows(data.x_train, data.y_train)
    if isinstance(data, Dataset):
        return ArrayRows.of(data)
    raise DataDietError(f"data must be a datadiet Dataset or a lazy source (npy:DIR, ...), got {type(data).__name__}")


__all__ = ["ArrayRows", "SourceRows", "ViewRows", "row_reader"]

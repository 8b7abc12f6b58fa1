"""Where the trainer's batches come from: the in-memory tensors, or a lazy source read through a torch
``DataLoader`` with worker processes.

Both feeds take the schedule's :class:`~datadiet.training.schedule.Batch` es in order and give each
with its inputs and labels. The in-memory feed indexes ``x_train``/``y_train`` (the fast default).
The loader feed hands the same index lists, in the same order, to a ``DataLoader`` as its batch
sampler, so each batch is one ``source.read(indices)`` (done in a worker process when
``num_workers > 0``): a lazily read source gives the rows of the same data in memory, batch for
batch, and training on it gives the same numbers.

A lazy source is anything with the source protocol (:class:`Source`; the sources of
:mod:`datadiet.data.sources` and :mod:`datadiet.data.shards` have it): ``num_train``,
``num_test``, ``input_shape``, ``num_classes`` and ``read(indices, part) -> (x, y)`` giving the
normalised float32 rows and int64 labels ``to_dataset()`` would hold. A source may carry an
``augment`` (:class:`~datadiet.data.dataset.Augment`); without one it has none, as ``npy:DIR``
loaded into memory has none.

The loader is iterated one epoch at a time (up to each batch that saves the resume state), its
workers kept between epochs: a dynamic schedule plans an epoch from the losses of the one before,
so the loader must not ask for the next epoch's batches before this epoch's losses are seen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from datadiet.data.dataset import Augment, Dataset
from datadiet.data.lazy import LazyRows
from datadiet.errors import DataDietError
from datadiet.training.schedule import Batch
from datadiet.validation import check_positive_int

ALIGN = 64  # bytes: batches are copied to memory aligned like torch's own (CPU kernels may depend on it)


@runtime_checkable
class Source(Protocol):
    """What the trainer needs of a lazily read dataset (see the module docstring)."""

    num_train: int
    num_test: int
    input_shape: tuple[int, ...]
    num_classes: int

    def read(self, indices, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]: ...


def is_lazy(data) -> bool:
    """Whether ``data`` is a lazy source (not an in-memory :class:`~datadiet.data.dataset.Dataset`)."""
    return not isinstance(data, Dataset) and callable(getattr(data, "read", None))


def check_data(data) -> None:
    """Refuse training data that is neither an in-memory Dataset nor a lazy source."""
    if not isinstance(data, Dataset) and not isinstance(data, Source):
        raise DataDietError(
            f"dataset must be a Dataset or a lazy source with read(indices, part), num_train, num_test, "
            f"input_shape and num_classes (e.g. NpySource), got {type(data).__name__}"
        )


def augment_of(data) -> Augment:
    """The dataset's augmentation (a lazy source without one: none)."""
    aug = getattr(data, "augment", None)
    return aug if isinstance(aug, Augment) else Augment()


class Rows(torch.utils.data.Dataset):
    """A map-style torch Dataset over one part of a source whose ``__getitems__`` reads a whole batch
    at once: with :func:`as_batch` as ``collate_fn`` a ``DataLoader`` batch is one ``read``."""

    def __init__(self, source: Source, part: str) -> None:
        self.source, self.part = source, part

    def __len__(self) -> int:
        return int(self.source.num_train if self.part == "train" else self.source.num_test)

    def __getitem__(self, i):
        return self.source.read([int(i)], self.part)

    def __getitems__(self, indices):
        return self.source.read(indices, self.part)


def as_batch(rows: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``collate_fn``: the read rows as they are, copied where their memory is not aligned."""
    x, y = rows
    if x.data_ptr() % ALIGN:
        x = x.clone(memory_format=torch.contiguous_format)
    return x, y


def make_loader(source: Source, part: str, batch_sampler: Iterable, num_workers: int) -> torch.utils.data.DataLoader:
    """A DataLoader reading ``batch_sampler``'s index lists of ``part`` (workers kept between
    iterations). Its own generator seeds the workers, so the global torch RNG is never drawn from."""
    return torch.utils.data.DataLoader(
        Rows(source, part),
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        collate_fn=as_batch,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(0),
    )


class MemoryFeed:
    """Batches taken from the in-memory training tensors by indexing."""

    def __init__(self, dataset: Dataset) -> None:
        self.x, self.y = dataset.x_train, dataset.y_train

    def batches(self, batches: Iterator[Batch]) -> Iterator[tuple[Batch, torch.Tensor, torch.Tensor]]:
        for batch in batches:
            yield batch, self.x[batch.indices], self.y[batch.indices]


class EpochSampler:
    """A ``DataLoader`` batch sampler over the schedule's batches: each iteration yields their index
    lists up to the next batch that saves the resume state (an epoch's end or the run's), keeping the
    batches in ``pending`` in order; ``done`` once the schedule has none left."""

    def __init__(self, batches: Iterator[Batch]) -> None:
        self.batches, self.pending, self.done = batches, deque(), False

    def __iter__(self):
        for batch in self.batches:
            self.pending.append(batch)
            yield batch.indices.tolist()
            if batch.saves_state:
                return
        self.done = True


class LoaderFeed:
    """Batches read from a lazy source through a DataLoader with ``num_workers`` worker processes,
    in the schedule's order (see the module docstring)."""

    def __init__(self, source: Source, num_workers: int) -> None:
        self.source, self.num_workers = source, num_workers
        _ = getattr(source, "mean", None)  # normalisation statistics computed once, before any worker starts

    def batches(self, batches: Iterator[Batch]) -> Iterator[tuple[Batch, torch.Tensor, torch.Tensor]]:
        sampler = EpochSampler(batches)
        loader = make_loader(self.source, "train", sampler, self.num_workers)
        try:
            while not sampler.done:
                for x, y in loader:
                    yield sampler.pending.popleft(), x, y
        finally:
            del loader  # its worker processes end with it


class LazyDatasetRows:
    """The source protocol over a Dataset whose inputs are read lazily (:class:`~datadiet.data.lazy.LazyRows`):
    ``read`` gives its views' rows and its own labels (label noise and a validation split included), so
    a DataLoader's workers read the batches indexing the Dataset would give."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.num_train, self.num_test = dataset.num_train, int(dataset.x_test.shape[0])
        self.input_shape, self.num_classes = dataset.input_shape, dataset.num_classes
        self.augment = dataset.augment

    def read(self, indices, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        if part == "train":
            return self.dataset.x_train[idx], self.dataset.y_train[idx]
        return self.dataset.x_test[idx], self.dataset.y_test[idx]


def reads_lazily(data) -> bool:
    """A Dataset whose training inputs are read lazily (``npy:DIR``, ``parquet:DIR``, ``folder:PATH`` loaded)."""
    return isinstance(data, Dataset) and isinstance(data.x_train, LazyRows)


def make_feed(data, num_workers: int) -> MemoryFeed | LoaderFeed:
    """The feed of ``data``: indexing for a Dataset in memory (``num_workers`` unused), a DataLoader with
    ``num_workers`` workers for a lazy source or a Dataset read lazily (with 0: that Dataset indexed, the
    rows read in this process; the same batches either way)."""
    check_positive_int("num_workers", num_workers, allow_zero=True)
    if is_lazy(data):
        return LoaderFeed(data, num_workers)
    if reads_lazily(data) and num_workers > 0:
        return LoaderFeed(LazyDatasetRows(data), num_workers)
    return MemoryFeed(data)


@torch.no_grad()
def predict_source(
    model: nn.Module, source: Source, part: str = "test", *, batch_size: int = 1024, num_workers: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (eval mode, on the CPU) and labels of every example of ``part``, read batch by batch in
    the batches :func:`~datadiet.training.evaluation.predict_logits` cuts the tensors in memory into,
    so the logits are bitwise the in-memory ones. The model's mode is restored."""
    n = int(source.num_train if part == "train" else source.num_test)
    ranges = [list(range(i, min(n, i + batch_size))) for i in range(0, n, batch_size)]
    loader = make_loader(source, part, ranges, num_workers)
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    logits, labels = [], []
    try:
        for x, y in loader:
            logits.append(model(x.to(device)).cpu())
            labels.append(y)
    finally:
        model.train(was_training)
        del loader
    return torch.cat(logits), torch.cat(labels)

"""Shared plumbing for the score functions: input validation and leaving the model as it was."""

from __future__ import annotations

import functools
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from datadiet.data.lazy import LazyRows
from datadiet.errors import DataDietError
from datadiet.validation import as_inputs_targets, check_positive_int


def prepare(model: nn.Module, inputs, targets, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Validate (inputs, targets, batch_size) for scoring ``model``; returns tensors and batch size."""
    if not isinstance(model, nn.Module):
        raise DataDietError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x, y = as_inputs_targets(inputs, targets)
    batch_size = check_positive_int("batch_size", batch_size)
    return x, y, batch_size


def check_logits(logits: torch.Tensor, y: torch.Tensor) -> None:
    if logits.ndim != 2:
        raise DataDietError(f"model must return logits of shape (N, classes), got shape {tuple(logits.shape)}")
    if y.numel() and int(y.max()) >= logits.shape[1]:
        raise DataDietError(f"targets must be < the model's {logits.shape[1]} classes, got {int(y.max())}")


@contextmanager
def scoring_mode(model: nn.Module):
    """Eval mode for scoring; restores the mode and every parameter's ``.grad`` and ``requires_grad``."""
    was_training = model.training
    params = list(model.parameters())
    saved = [(p.grad, p.requires_grad) for p in params]
    model.eval()
    try:
        yield
    finally:
        for p, (g, rg) in zip(params, saved, strict=True):
            p.grad = g
            p.requires_grad_(rg)
        model.train(was_training)


def model_failed(x: torch.Tensor, err: BaseException) -> DataDietError:
    """The one-line error for a model whose forward raised on ``x`` (raise it ``from err``)."""
    msg = str(err).strip().splitlines()
    why = f"{type(err).__name__}: {msg[0]}" if msg else type(err).__name__
    return DataDietError(f"model failed on inputs of shape {tuple(x.shape)} dtype {x.dtype}: {why}")


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)``, with any failure of the model turned into a :class:`DataDietError`."""
    try:
        return model(x)
    except DataDietError:
        raise
    except Exception as e:  # whatever the user's model raises
        raise model_failed(x, e) from e


def batches(n: int, batch_size: int):
    for i in range(0, n, batch_size):
        yield slice(i, min(n, i + batch_size))


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy().astype(np.float64)


def is_map_dataset(obj) -> bool:
    """A map-style ``torch.utils.data.Dataset`` (``len`` and ``ds[i] -> (x, y)``), not an array."""
    return isinstance(obj, torch.utils.data.Dataset) and hasattr(obj, "__len__") and hasattr(obj, "__getitem__")


def _collate(items: list, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        xs, ys = zip(*items)
    except (TypeError, ValueError):
        raise DataDietError(f"the dataset's items must be (x, y) pairs; item {start} is not") from None
    x = torch.stack([v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v)) for v in xs])
    y = torch.as_tensor([int(v) for v in ys], dtype=torch.long)
    return x, y


def is_lazy_source(obj) -> bool:
    """A lazy source of :mod:`datadiet.data.sources` (``npy:DIR``, ``parquet:DIR``, ...): its training part is scored."""
    return callable(getattr(obj, "read", None)) and callable(getattr(obj, "torch_dataset", None))


def stream_batches(dataset, batch_size: int):
    """``(x, y)`` tensors of consecutive batches of a map-style dataset: one batch in memory at a time,
    read with one ``__getitems__`` call per batch where the dataset has it (a lazy source's rows)."""
    n = len(dataset)
    getitems = getattr(dataset, "__getitems__", None)
    for start in range(0, n, batch_size):
        rows = range(start, min(n, start + batch_size))
        yield _collate(getitems(list(rows)) if callable(getitems) else [dataset[i] for i in rows], start)


def streams(score):
    """Let ``score(model, inputs, targets, *, batch_size)`` take a map-style ``torch.utils.data.Dataset``
    of ``(x, y)`` (or a lazy source, whose training part is scored) as ``inputs`` (``targets=None``):
    it is read and scored one batch at a time, the same batches as the arrays would be cut into, so
    the scores equal those of the same data as arrays while only one batch is ever held in memory."""

    @functools.wraps(score)
    def wrapper(model, inputs, targets=None, *, batch_size: int | None = None, **kw):
        size = {} if batch_size is None else {"batch_size": batch_size}
        if isinstance(inputs, LazyRows):  # a Dataset's inputs read lazily: one batch read at a time
            bs = check_positive_int("batch_size", batch_size if batch_size is not None else _default_batch(score))
            return in_batches(lambda s: score(model, inputs[s], targets[s], batch_size=bs, **kw), inputs, targets, bs)
        if is_lazy_source(inputs):
            inputs = inputs.torch_dataset("train")
        if not is_map_dataset(inputs):
            if targets is None:
                raise DataDietError("targets are required unless inputs is a torch Dataset of (x, y) pairs")
            return score(model, inputs, targets, **size, **kw)
        if targets is not None:
            raise DataDietError("targets must be None when inputs is a torch Dataset (its items hold the labels)")
        bs = check_positive_int("batch_size", batch_size if batch_size is not None else _default_batch(score))
        parts = [score(model, x, y, batch_size=bs, **kw) for x, y in stream_batches(inputs, bs)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)

    return wrapper


def in_batches(fn, inputs: LazyRows, targets, batch_size: int):
    """``fn(rows)`` for consecutive slices of ``batch_size`` rows of lazily read ``inputs`` (and their
    ``targets``), the results concatenated (a tuple of arrays: each concatenated): the batches a score
    cuts the same inputs in memory into, so the numbers are equal."""
    if targets is None:
        raise DataDietError("targets are required with inputs read lazily (a Dataset's x_train)")
    if len(targets) != len(inputs):
        raise DataDietError(f"inputs and targets must have the same length, got {len(inputs)} and {len(targets)}")
    parts = [fn(s) for s in batches(len(inputs), batch_size)]
    if not parts:
        return np.empty(0, dtype=np.float64)
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)


def _default_batch(score) -> int:
    import inspect

    return inspect.signature(score).parameters["batch_size"].default

"""Shared plumbing for the score functions: input validation and leaving the model as it was."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

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

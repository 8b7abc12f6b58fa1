"""Scores computed from a forward pass: EL2N, loss, margin (probabilities), logit margin; and the input-norm and random baselines.

Every score here follows the package convention: higher = harder = kept first.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from datadiet.data.lazy import LazyRows, per_row
from datadiet.scores._common import (
    batches,
    check_logits,
    forward,
    in_batches,
    prepare,
    scoring_mode,
    streams,
    to_numpy,
)
from datadiet.validation import as_inputs_targets, check_positive_int


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with scoring_mode(model):
        out = (
            torch.cat([forward(model, x[s].to(device)).cpu() for s in batches(x.shape[0], batch_size)])
            if x.shape[0]
            else torch.empty(0, 0)
        )
    if x.shape[0]:
        check_logits(out, y)
    return out.float()


def el2n_from_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """‖softmax(logits) − onehot(y)‖₂ per row, computed stably without materialising the one-hot."""
    p = torch.softmax(logits.double(), dim=1)
    sq = (p * p).sum(1) - 2 * p.gather(1, targets[:, None]).squeeze(1) + 1
    return sq.clamp(min=0).sqrt()


def margin_from_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """True-class value minus the largest other value per row (positive = correct and confident).

    Works on logits (the logit margin, AUM) and on probabilities (the data-diet code's margin) alike.
    """
    true = logits.gather(1, targets[:, None]).squeeze(1)
    others = logits.scatter(1, targets[:, None], float("-inf"))
    return true - others.max(1).values


@streams
def el2n(model: nn.Module, inputs, targets, *, batch_size: int = 1024) -> np.ndarray:
    """EL2N (Paul et al. 2021): ‖softmax(f(x)) − onehot(y)‖₂ per example, model in eval mode. Shape (N,)."""
    x, y, batch_size = prepare(model, inputs, targets, batch_size)
    return to_numpy(el2n_from_logits(_logits(model, x, y, batch_size), y))


@streams
def loss(model: nn.Module, inputs, targets, *, batch_size: int = 1024) -> np.ndarray:
    """Per-example cross-entropy loss in eval mode. Shape (N,)."""
    x, y, batch_size = prepare(model, inputs, targets, batch_size)
    logits = _logits(model, x, y, batch_size).double()
    return to_numpy(F.cross_entropy(logits, y, reduction="none"))


def loss_and_error(model: nn.Module, inputs, targets, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-example cross-entropy (as :func:`loss`, to the bit) and 0-1 error (1.0 where the argmax is
    not the label) from one pass in eval mode. Two arrays of shape (N,)."""
    if isinstance(inputs, LazyRows):  # read batch by batch
        bs = check_positive_int("batch_size", batch_size)
        return in_batches(lambda s: loss_and_error(model, inputs[s], targets[s], batch_size=bs), inputs, targets, bs)
    x, y, batch_size = prepare(model, inputs, targets, batch_size)
    logits = _logits(model, x, y, batch_size).double()
    if not x.shape[0]:
        return np.zeros(0), np.zeros(0)
    return to_numpy(F.cross_entropy(logits, y, reduction="none")), to_numpy((logits.argmax(1) != y).double())


@streams
def margin(model: nn.Module, inputs, targets, *, batch_size: int = 1024) -> np.ndarray:
    """Probability margin as in the data-diet code: max over wrong classes of p_wrong − p_true. Shape (N,).

    In [-1, 1]; negative for a correctly classified example, so higher = harder like every score.
    For the same quantity in logits see :func:`logit_margin`.
    """
    x, y, batch_size = prepare(model, inputs, targets, batch_size)
    p = torch.softmax(_logits(model, x, y, batch_size).double(), dim=1)
    return to_numpy(-margin_from_logits(p, y))


@streams
def logit_margin(model: nn.Module, inputs, targets, *, batch_size: int = 1024) -> np.ndarray:
    """Logit margin: largest wrong-class logit minus the true-class logit (higher = harder). Shape (N,).

    Unbounded, and the negation of the per-presentation margin that AUM averages over training.
    """
    x, y, batch_size = prepare(model, inputs, targets, batch_size)
    return to_numpy(-margin_from_logits(_logits(model, x, y, batch_size).double(), y))


def probabilities(model: nn.Module, inputs, *, batch_size: int = 1024) -> np.ndarray:
    """The model's softmax probabilities (N x K) on ``inputs``, in eval mode, batch by batch."""
    if isinstance(inputs, LazyRows):  # read batch by batch
        return per_row(lambda rows: probabilities(model, rows, batch_size=batch_size), inputs, batch_size)
    x = torch.as_tensor(inputs)
    logits = _logits(model, x, torch.zeros(x.shape[0], dtype=torch.long), batch_size)
    return torch.softmax(logits.double(), dim=1).numpy()


def input_norm(inputs) -> np.ndarray:
    """‖x‖₂ of each (normalised) input: the baseline Kirsch (2023) found GraNd at init tracks. Shape (N,).
    Inputs read lazily (a Dataset's ``x_train``) are read batch by batch."""
    if isinstance(inputs, LazyRows):
        return per_row(input_norm, inputs)
    x = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs)
    x, _ = as_inputs_targets(x, torch.zeros(x.shape[0] if x.ndim else 0, dtype=torch.long))
    return to_numpy(x.double().flatten(1).norm(dim=1))


def random_scores(n: int, *, seed: int = 0) -> np.ndarray:
    """Uniform random scores in [0, 1) from ``seed``: selecting the top of them is random pruning."""
    n = check_positive_int("n", n, allow_zero=True)
    seed = check_positive_int("seed", seed, allow_zero=True)
    return np.random.default_rng([seed, 0x72616E64]).random(n)

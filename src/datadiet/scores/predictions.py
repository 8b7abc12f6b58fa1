"""Scores from predictions you already have (cleanlab style): arrays in, array out, no model, no retraining.

``probs`` are predicted class probabilities, shape (N, K), each row non-negative and summing to 1
(softmax outputs, or out-of-sample predictions from cross-validation as cleanlab uses them);
``logits`` are raw model outputs of shape (N, K); ``labels`` are the given integer labels in [0, K).
Every score follows the package convention: **higher = harder = kept first**, and each equals the
model-based score of the same name (:mod:`datadiet.scores.basic`) on the model that made the
predictions.
"""

from __future__ import annotations

import numpy as np
import torch

from datadiet.errors import DataDietError
from datadiet.scores.basic import margin_from_logits
from datadiet.validation import check_labels

PROB_ROW_TOLERANCE = 1e-3  # rows of probs must sum to 1 within this (float32 softmax outputs pass)


def _matrix(name: str, values) -> np.ndarray:
    arr = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DataDietError(f"{name} must have shape (N, classes) with at least 2 classes, got shape {arr.shape}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DataDietError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise DataDietError(f"{name} must be finite, got {bad} NaN/inf value(s)")
    return arr


def _probs(probs) -> np.ndarray:
    p = _matrix("probs", probs)
    if (p < 0).any():
        raise DataDietError(
            f"probs must be >= 0, got a minimum of {p.min():.3g} (pass logits to the *_from_logits scores)"
        )
    worst = float(np.abs(p.sum(1) - 1).max()) if len(p) else 0.0
    if worst > PROB_ROW_TOLERANCE:
        raise DataDietError(
            f"probs rows must sum to 1 (within {PROB_ROW_TOLERANCE:g}), got a row summing to 1{worst:+.3g} off"
            " (softmax the logits first, or use the *_from_logits scores)"
        )
    return p


def _labels(labels, n: int, k: int) -> torch.Tensor:
    y = check_labels("labels", labels, n)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise DataDietError(f"labels must be in [0, {k}) for {k} classes, got values in [{y.min()}, {y.max()}]")
    return torch.from_numpy(y)


def el2n_from_probs(probs, labels) -> np.ndarray:
    """EL2N, ‖p − onehot(y)‖₂ per example, from predicted probabilities. Shape (N,)."""
    p = _probs(probs)
    y = _labels(labels, len(p), p.shape[1])
    t = torch.from_numpy(p)
    sq = (t * t).sum(1) - 2 * t.gather(1, y[:, None]).squeeze(1) + 1
    return sq.clamp(min=0).sqrt().numpy()


def margin_from_probs(probs, labels) -> np.ndarray:
    """The data-diet code's margin: max over wrong classes of p_wrong − p_true, in [-1, 1]. Shape (N,)."""
    p = _probs(probs)
    y = _labels(labels, len(p), p.shape[1])
    return (-margin_from_logits(torch.from_numpy(p), y)).numpy()


def loss_from_probs(probs, labels) -> np.ndarray:
    """Cross-entropy −log p_true per example (inf where p_true is 0). Shape (N,)."""
    p = _probs(probs)
    y = _labels(labels, len(p), p.shape[1])
    with np.errstate(divide="ignore"):
        return -np.log(p[np.arange(len(p)), y.numpy()])


def logit_margin_from_logits(logits, labels) -> np.ndarray:
    """Largest wrong-class logit minus the true-class logit (higher = harder; −AUM's summand). Shape (N,)."""
    z = _matrix("logits", logits)
    y = _labels(labels, len(z), z.shape[1])
    return (-margin_from_logits(torch.from_numpy(z), y)).numpy()

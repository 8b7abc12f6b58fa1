"""GraNd (Paul et al. 2021): ‖∇θ CE(f(x), y)‖₂ over every trainable parameter, per example."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from datadiet.scores._common import check_logits, prepare, scoring_mode


def grand_loop(model: nn.Module, inputs, targets, *, batch_size: int = 1) -> np.ndarray:
    """GraNd by one backward pass per example (exact, slow): the reference implementation."""
    x, y, _ = prepare(model, inputs, targets, batch_size)
    out = np.empty(x.shape[0], dtype=np.float64)
    with scoring_mode(model):
        params = [p for p in model.parameters() if p.requires_grad]
        for i in range(x.shape[0]):
            logits = model(x[i : i + 1])
            check_logits(logits, y[i : i + 1])
            grads = torch.autograd.grad(F.cross_entropy(logits, y[i : i + 1]), params)
            out[i] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    return out


def grand(model: nn.Module, inputs, targets, *, batch_size: int = 256) -> np.ndarray:
    """GraNd per example, model in eval mode. Shape (N,). Does not depend on ``batch_size``."""
    return grand_loop(model, inputs, targets, batch_size=batch_size)

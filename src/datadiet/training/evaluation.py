"""Test-set predictions and accuracies (overall and per class)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Logits in eval mode (on the CPU, computed on the model's device); the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was_training)


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, *, batch_size: int = 1024
) -> tuple[float, list[float]]:
    """Overall and per-class accuracy (NaN for a class with no examples)."""
    return accuracy_of(predict_logits(model, x, batch_size=batch_size).argmax(1), y, num_classes)


def accuracy_of(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[float, list[float]]:
    """Overall and per-class accuracy of predicted labels ``pred`` (NaN for a class with no examples)."""
    correct = (pred == y).double()
    counts = torch.bincount(y, minlength=num_classes).double()
    hits = torch.bincount(y, weights=correct, minlength=num_classes)
    per_class = torch.where(counts > 0, hits / counts.clamp(min=1), torch.full_like(counts, float("nan")))
    return float(correct.mean()), [float(v) for v in per_class]

"""Floating-point operations per example, counted by ``torch.utils.flop_counter`` (matrix products
and convolutions, forward and, for training, backward), so compute compares across models."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from datadiet.models.registry import build_model


@lru_cache(maxsize=64)
def flops_per_example(
    model: str, input_shape: tuple[int, ...], num_classes: int, *, width: float = 1.0, backward: bool = True
) -> float:
    """FLOPs of one example through ``model``: the forward pass, plus the backward pass (gradients of
    every weight and of every hidden activation, not of the input) when ``backward``. Counted on a
    batch of 2 in train mode and divided by 2."""
    net = build_model(model, tuple(input_shape), num_classes, width=width, seed=0)
    x = torch.zeros((2, *input_shape))
    with FlopCounterMode(display=False) as counter:
        out = net(x)
        if backward:
            out.float().sum().backward()
    return counter.get_total_flops() / 2

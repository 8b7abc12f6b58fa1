"""Batched tensor augmentation: random crop with zero padding and horizontal flip."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from datadiet.data.dataset import Augment


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Augment a batch of images (B, C, H, W); other shapes and disabled augmentations pass through."""
    if x.ndim != 4 or not aug.enabled:
        return x
    b, _, h, w = x.shape
    if aug.crop_padding > 0:
        p = aug.crop_padding
        xp = F.pad(x, (p, p, p, p))
        shifts = torch.randint(0, 2 * p + 1, (2, b), generator=generator)
        rows = shifts[0][:, None] + torch.arange(h)  # (B, H)
        cols = shifts[1][:, None] + torch.arange(w)  # (B, W)
        bi = torch.arange(b)[:, None, None]
        x = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if aug.flip:
        flip = torch.rand(b, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x.contiguous()

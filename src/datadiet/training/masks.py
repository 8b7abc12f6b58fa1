"""Weight masks (lottery tickets): pruned weights are zero from the start and stay exactly zero."""

from __future__ import annotations

import torch
from torch import nn

from datadiet.errors import DataDietError


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor] | None) -> None:
    """Zero the masked weights (``masks``: parameter name -> 0/1 tensor of the parameter's shape)."""
    if not masks:
        return
    params = dict(model.named_parameters())
    for name, m in masks.items():
        if name not in params or tuple(m.shape) != tuple(params[name].shape):
            got = "no such parameter" if name not in params else f"shape {tuple(m.shape)}"
            raise DataDietError(f"mask {name!r} does not fit the model ({got})")
    with torch.no_grad():
        for name, m in masks.items():
            params[name].mul_(m)


class MaskEnforcer:
    """Holds ``masks`` on ``model`` (moved to ``device``; none: does nothing). The masked weights are
    zeroed at once; at every optimiser step their gradients are zeroed before the step (so neither
    momentum nor weight decay moves them) and the mask is applied again after it."""

    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor] | None, device: torch.device):
        self.masks = {k: v.to(device) for k, v in masks.items()} if masks else None
        self.model = model
        apply_masks(model, self.masks)
        self._pairs = [(p, self.masks[n]) for n, p in model.named_parameters() if n in self.masks] if masks else []

    def before_step(self) -> None:
        """Pruned weights get no update, not even from momentum or weight decay."""
        for p, m in self._pairs:
            if p.grad is not None:
                p.grad.mul_(m)

    def after_step(self) -> None:
        apply_masks(self.model, self.masks)

"""Which torch device runs training and scoring: ``auto`` (CUDA when present), ``cpu`` or ``cuda``."""

from __future__ import annotations

import torch

from datadiet.defaults import DEFAULT_DEVICE
from datadiet.errors import DataDietError
from datadiet.validation import check_choice

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = DEFAULT_DEVICE) -> str:
    """``"cpu"`` or ``"cuda"``; asking for CUDA where torch sees none is a one-line error."""
    check_choice("device", device, DEVICES)
    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if device == "cuda" and not available:
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise DataDietError(
            f"device 'cuda' asked for, but torch {torch.__version__} ({build}) sees no CUDA GPU; use --device cpu or auto"
        )
    return device

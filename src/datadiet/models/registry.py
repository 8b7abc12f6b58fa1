"""Model registry: ``build_model(name, input_shape, num_classes, width=..., seed=...)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from datadiet.errors import DataDietError
from datadiet.models.nets import MLP, ResNet1d, ResNet18, SmallCNN
from datadiet.models.user import as_model_name, build_user_model, is_user_model
from datadiet.validation import check_positive_float, check_positive_int


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    factory: Callable[..., nn.Module]
    needs_image: bool = False
    needs_sequence: bool = False


MODELS: dict[str, ModelInfo] = {
    "mlp": ModelInfo("mlp", "2 hidden layers of 256*width units, ReLU", MLP),
    "cnn": ModelInfo(
        "cnn", "small CNN: 2 conv-BN-ReLU-pool blocks (16/32 channels * width), 128-unit head (default)", SmallCNN
    ),
    "resnet18": ModelInfo(
        "resnet18", "ResNet-18, CIFAR form (3x3 stem, no max-pool), 64*width base channels", ResNet18, needs_image=True
    ),
    "resnet1d": ModelInfo(
        "resnet1d",
        "small 1-D ResNet for sequences (MNIST-1D): 3 one-block stages, 16/32/64 channels * width",
        ResNet1d,
        needs_sequence=True,
    ),
}


def model_names() -> list[str]:
    return list(MODELS)


def check_model(name, what: str = "model") -> str:
    """A built-in model's name or a user model's spec (``package.module:factory``; see
    :mod:`datadiet.models.user`); a factory or an ``nn.Module`` becomes its spec."""
    name = as_model_name(name)
    if name not in MODELS and not is_user_model(name):
        raise DataDietError(
            f"unknown {what} {name!r}; valid: {', '.join(model_names())}, or package.module:factory "
            "(factory(input_shape, num_classes) -> nn.Module, importable from PYTHONPATH)"
        )
    return name


def build_model(
    name, input_shape, num_classes: int, *, width: float = 1.0, seed: int = 0, source_hash: str | None = None
) -> nn.Module:
    """Build a freshly initialised model; ``seed`` fixes the initialisation (global RNG untouched).

    ``name``: a built-in model, ``package.module:factory``, a factory or an ``nn.Module`` (user
    models take no ``width``; ``source_hash``, when given, must match the user model's source)."""
    name = check_model(name)
    width = check_positive_float("width", width)
    check_positive_int("num_classes", num_classes)
    seed = check_positive_int("init_seed", seed, allow_zero=True)
    if is_user_model(name):
        if width != 1.0:
            raise DataDietError(f"width applies to the built-in models only, got width={width} for {name!r}")
        return build_user_model(name, input_shape, num_classes, seed=seed, expected_hash=source_hash)
    info = MODELS[name]
    input_shape = tuple(int(s) for s in input_shape)
    if info.needs_sequence and len(input_shape) != 2:
        raise DataDietError(f"model {name!r} needs sequence input (C, L), got input shape {input_shape}")
    if info.needs_image and len(input_shape) != 3:
        raise DataDietError(f"model {name!r} needs image input (C, H, W), got input shape {input_shape}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return info.factory(input_shape, num_classes, width=width)

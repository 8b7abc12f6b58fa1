"""An in-memory dataset: normalised float tensors, labels, class names, stable index, fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class Augment:
    """Tensor-level augmentation suited to a dataset: random crop with zero padding, horizontal flip.

    ``default`` says whether training uses it when the config does not say (``augment=None``).
    """

    crop_padding: int = 0
    flip: bool = False
    default: bool = True

    @property
    def enabled(self) -> bool:
        return self.crop_padding > 0 or self.flip


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held in memory.

    ``x_*`` are normalised float32 tensors of shape (N, C, H, W) for images or (N, C, L) for
    sequences; ``y_*`` are int64 labels. Example ``i`` of the training set is always row ``i``: that
    is the stable index every score table refers to. ``noisy`` marks the training labels that label
    noise injection changed (``y_train_clean`` keeps the originals).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple[str, ...]
    fingerprint: str
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment: Augment = field(default_factory=Augment)
    y_train_clean: torch.Tensor | None = None
    noisy: np.ndarray | None = None
    bytes_per_example: int = 0  # storage of one raw training input as it came (e.g. 784 for 28x28 uint8)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x_train.ndim == 4

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def index(self) -> np.ndarray:
        return np.arange(self.num_train, dtype=np.int64)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the per-channel normalisation (for showing images)."""
        if not self.mean:
            return x
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = torch.tensor(self.mean).view(shape)
        std = torch.tensor(self.std).view(shape)
        return x * std + mean


def fingerprint_arrays(*arrays) -> str:
    """sha256 over dtype, shape and bytes of the raw arrays (before normalisation)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def from_arrays(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    class_names: tuple[str, ...] | None = None,
    augment: Augment | None = None,
    scale: float | None = None,
) -> Dataset:
    """Build a normalised :class:`Dataset` from raw arrays.

    Images come as (N, H, W), (N, H, W, C) channels-last with C in {1, 3} or (N, C, H, W); flat
    features as (N, D) become (N, 1, D). Values are divided by ``scale`` (e.g. 255) then normalised
    per channel with the training set's mean and std.
    """
    from datadiet.errors import DataDietError

    fp = fingerprint_arrays(x_train, y_train, x_test, y_test)
    raw_bytes = int(np.asarray(x_train[:1]).nbytes) + int(np.asarray(y_train[:1]).nbytes)
    xs = []
    for part, x in (("x_train", x_train), ("x_test", x_test)):
        x = np.asarray(x)
        if x.ndim == 2:
            x = x[:, None, :]
        elif x.ndim == 3:
            x = x[:, None, :, :]
        elif x.ndim == 4:
            if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
                x = np.transpose(x, (0, 3, 1, 2))
        else:
            raise DataDietError(f"{part} must have 2 to 4 dimensions (N, ...), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise DataDietError(f"{part} must be numeric, got dtype {x.dtype}")
        x = x.astype(np.float32)
        if scale:
            x = x / np.float32(scale)
        if not np.isfinite(x).all():
            raise DataDietError(f"{part} contains NaN or infinite values")
        xs.append(x)
    xtr, xte = xs
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataDietError(
            f"x_train and x_test must have the same example shape, got {xtr.shape[1:]} and {xte.shape[1:]}"
        )
    ys = []
    for part, y, x in (("y_train", y_train, xtr), ("y_test", y_test, xte)):
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataDietError(f"{part} must have shape ({x.shape[0]},), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
                y = y.astype(np.int64)
            else:
                raise DataDietError(f"{part} must hold integer class labels, got dtype {y.dtype}")
        if y.size and y.min() < 0:
            raise DataDietError(f"{part} must hold labels >= 0, got {int(y.min())}")
        ys.append(y.astype(np.int64))
    if xtr.shape[0] < 2:
        raise DataDietError(f"x_train must hold at least 2 examples, got {xtr.shape[0]}")
    n_classes = int(max(ys[0].max(), ys[1].max() if ys[1].size else 0)) + 1
    if class_names is None:
        class_names = tuple(str(i) for i in range(n_classes))
    elif len(class_names) < n_classes:
        raise DataDietError(f"labels go up to {n_classes - 1} but only {len(class_names)} class names given")
    axes = (0,) + tuple(range(2, xtr.ndim))
    mean = xtr.mean(axis=axes, dtype=np.float64)
    std = xtr.std(axis=axes, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    shape = (1, -1) + (1,) * (xtr.ndim - 2)
    xtr = ((xtr - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
    xte = ((xte - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
    return Dataset(
        name=name,
        x_train=torch.from_numpy(np.ascontiguousarray(xtr)),
        y_train=torch.from_numpy(ys[0]),
        x_test=torch.from_numpy(np.ascontiguousarray(xte)),
        y_test=torch.from_numpy(ys[1]),
        class_names=tuple(class_names),
        fingerprint=fp,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        augment=augment or Augment(),
        bytes_per_example=raw_bytes,
    )

"""An in-memory dataset: normalised float tensors, labels, class names, stable index, fingerprint."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from datadiet.errors import DataDietError
from datadiet.validation import check_positive_float


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

    A dataset with a validation part (:func:`datadiet.data.split.split_validation`) holds out
    ``x_val``/``y_val`` (``g_val``) from the training set: then ``index_train`` (``index_val``) gives
    each training (validation) row's index in the training set before the split, so ``index`` still
    names the original examples; ``val_fraction`` and ``val_seed`` say how the split was drawn.
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
    g_train: np.ndarray | None = None  # a group per example beyond the class (datadiet.data.groups)
    g_test: np.ndarray | None = None
    group_names: tuple[str, ...] = ()
    files_train: tuple[str, ...] = ()  # folder:PATH: each training example's file, relative to source_dir
    source_dir: str | None = None
    x_val: torch.Tensor | None = None  # the validation part, held out of training (split_validation)
    y_val: torch.Tensor | None = None
    g_val: np.ndarray | None = None
    index_train: np.ndarray | None = None  # each training row's original index (None: row i is example i)
    index_val: np.ndarray | None = None
    val_fraction: float = 0.0
    val_seed: int = 0

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
        """Each training row's stable index: its row in the training set before a validation split."""
        if self.index_train is not None:
            return self.index_train
        return np.arange(self.num_train, dtype=np.int64)

    @property
    def num_val(self) -> int:
        """Examples held out of training for validation (0 without a validation part)."""
        return 0 if self.x_val is None else int(self.x_val.shape[0])

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


def check_groups(name: str, groups, n: int) -> np.ndarray:
    """Group ids of shape (n,): non-negative integers."""
    g = np.asarray(groups)
    if g.shape != (n,):
        raise DataDietError(f"{name} must have shape ({n},), got shape {g.shape}")
    if g.size and (g.dtype == bool or not np.issubdtype(g.dtype, np.integer)):
        if not (np.issubdtype(g.dtype, np.floating) and np.isfinite(g).all() and (g == np.round(g)).all()):
            raise DataDietError(f"{name} must hold integer group ids, got dtype {g.dtype}")
    g = g.astype(np.int64)
    if g.size and g.min() < 0:
        raise DataDietError(f"{name} must hold group ids >= 0, got {int(g.min())}")
    return g


def with_groups(dataset: Dataset, g_train, g_test, group_names=None, g_val=None) -> Dataset:
    """``dataset`` with a group per training and test example (validated; see :mod:`datadiet.data.groups`).
    ``group_names``, if given, names each group id from 0 to the largest in ``g_train``/``g_test``: one
    name per group, no more, no fewer. ``g_val`` groups the validation part, if the dataset has one."""
    gtr = check_groups("g_train", g_train, dataset.num_train)
    gte = check_groups("g_test", g_test, int(dataset.x_test.shape[0]))
    gva = None if g_val is None or dataset.x_val is None else check_groups("g_val", g_val, dataset.num_val)
    k = int(max(gtr.max(initial=0), gte.max(initial=0))) + 1
    names = tuple(str(v) for v in group_names) if group_names is not None else tuple(f"group {i}" for i in range(k))
    if len(names) != k:
        raise DataDietError(
            f"group_names must give one name per group of g_train/g_test ({k} group{'s' * (k != 1)}, ids "
            f"0..{k - 1}), got {len(names)} name{'s' * (len(names) != 1)}"
        )
    return replace(dataset, g_train=gtr, g_test=gte, g_val=gva, group_names=names)


MAX_CLASSES = 100_000  # labels are class indices; the model gets one output per class up to the largest


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _as_array(part: str, a) -> np.ndarray:
    """``np.asarray`` that turns ragged or unconvertible input into a one-line DataDietError."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (ValueError, TypeError, OverflowError) as e:
        raise DataDietError(
            f"{part} must be a rectangular numeric array, got {type(a).__name__} ({_one_line(e)})"
        ) from None


def _label_list(labels: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(v)) for v in labels[:limit])
    return shown + (f", ... ({labels.size} in all)" if labels.size > limit else "")


def _examples(part: str, raw: np.ndarray, scale: float | None) -> np.ndarray:
    """Inputs as float32 (N, C, ...) divided by ``scale``: (N, D) -> (N, 1, D), (N, H, W) -> (N, 1, H, W),
    channels-last (N, H, W, C) with C in {1, 3} -> (N, C, H, W); refused when unusable."""
    x = raw
    if x.dtype.kind not in "iuf":
        raise DataDietError(f"{part} must be numeric (integer or float), got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[:, None, :]
    elif x.ndim == 3:
        x = x[:, None, :, :]
    elif x.ndim == 4:
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = np.transpose(x, (0, 3, 1, 2))
    else:
        raise DataDietError(f"{part} must have 2 to 4 dimensions (N, ...), got shape {x.shape}")
    least = 2 if part == "x_train" else 1
    if x.shape[0] < least:
        raise DataDietError(f"{part} must hold at least {least} example{'s' if least > 1 else ''}, got {x.shape[0]}")
    if math.prod(x.shape[1:]) == 0:
        raise DataDietError(f"{part} examples must have at least one feature, got shape {raw.shape}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataDietError(f"{part} contains NaN or infinite values")
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are refused just below
        x = x.astype(np.float32)
        if scale:
            x = x / np.float32(scale)
    if not np.isfinite(x).all():
        raise DataDietError(
            f"{part} holds values beyond the float32 range (largest magnitude {float(np.abs(raw).max()):g})"
        )
    return x


def _labels(part: str, y: np.ndarray, n: int) -> np.ndarray:
    """Class labels as int64 of shape (n,): non-negative integers below :data:`MAX_CLASSES`."""
    if y.ndim != 1 or y.shape[0] != n:
        raise DataDietError(f"{part} must have shape ({n},), got {y.shape}")
    if y.dtype.kind == "f":
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise DataDietError(f"{part} must hold integer class labels, got dtype {y.dtype} with non-integer values")
    elif y.dtype.kind not in "iu":
        raise DataDietError(f"{part} must hold integer class labels, got dtype {y.dtype}")
    if y.min() < 0:
        raise DataDietError(f"{part} must hold labels >= 0, got {int(y.min())}")
    if y.max() >= MAX_CLASSES:
        raise DataDietError(f"{part} must hold class indices < {MAX_CLASSES}, got {int(y.max())}")
    return y.astype(np.int64)


def _check_label_sets(ytr: np.ndarray, yte: np.ndarray) -> None:
    if np.unique(ytr).size < 2:
        raise DataDietError(f"y_train must hold at least 2 classes, got only label {int(ytr[0])}")
    unseen = np.setdiff1d(yte, ytr)
    if unseen.size:
        raise DataDietError(
            f"y_test holds label(s) {_label_list(unseen)} that never occur in y_train "
            f"(labels {_label_list(np.unique(ytr))}); the test accuracy on them would be meaningless"
        )


def _class_names(class_names, n_classes: int) -> tuple[str, ...]:
    if class_names is None:
        return tuple(str(i) for i in range(n_classes))
    if len(class_names) < n_classes:
        raise DataDietError(f"labels go up to {n_classes - 1} but only {len(class_names)} class names given")
    return tuple(class_names)


def _standardise(xtr: np.ndarray, xte: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both splits normalised per channel with the training set's mean and std: (xtr, xte, mean, std)."""
    axes = (0,) + tuple(range(2, xtr.ndim))
    mean = xtr.mean(axis=axes, dtype=np.float64)
    std = xtr.std(axis=axes, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    shape = (1, -1) + (1,) * (xtr.ndim - 2)
    xtr = ((xtr - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
    xte = ((xte - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
    return xtr, xte, mean, std


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
    g_train: np.ndarray | None = None,
    g_test: np.ndarray | None = None,
    group_names=None,
) -> Dataset:
    """Build a normalised :class:`Dataset` from raw arrays.

    ``g_train``/``g_test`` (with optional ``group_names``) give each example a group beyond its class
    (:mod:`datadiet.data.groups`); they are not part of the fingerprint, since they change no training.

    Images come as (N, H, W), (N, H, W, C) channels-last with C in {1, 3} or (N, C, H, W); flat
    features as (N, D) become (N, 1, D). Values are divided by ``scale`` (e.g. 255) then normalised
    per channel with the training set's mean and std.

    Refused with a one-line :class:`~datadiet.errors.DataDietError`: non-numeric, bool, complex or
    ragged inputs, fewer than 2 training or 0 test examples, examples with no features, NaN/inf
    (also values beyond float32 range), labels that are not non-negative integers below
    :data:`MAX_CLASSES`, a training set with a single class, and test labels that never occur in
    the training labels (the accuracy on them would be meaningless).
    """
    if scale is not None:
        scale = check_positive_float("scale", scale)
    if class_names is not None:
        if isinstance(class_names, (str, bytes)) or not hasattr(class_names, "__iter__"):
            raise DataDietError(f"class_names must be a sequence of names, got {class_names!r}")
        class_names = tuple(str(c) for c in class_names)
    raw = {
        part: _as_array(part, a)
        for part, a in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test))
    }
    xtr, xte = (_examples(part, raw[part], scale) for part in ("x_train", "x_test"))
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataDietError(
            f"x_train and x_test must have the same example shape, got {xtr.shape[1:]} and {xte.shape[1:]}"
        )
    ytr, yte = (_labels(part, raw[part], x.shape[0]) for part, x in (("y_train", xtr), ("y_test", xte)))
    _check_label_sets(ytr, yte)
    fp = fingerprint_arrays(raw["x_train"], raw["y_train"], raw["x_test"], raw["y_test"])
    raw_bytes = int(raw["x_train"][:1].nbytes) + int(raw["y_train"][:1].nbytes)
    class_names = _class_names(class_names, int(ytr.max()) + 1)
    xtr, xte, mean, std = _standardise(xtr, xte)
    ds = Dataset(
        name=name,
        x_train=torch.from_numpy(np.ascontiguousarray(xtr)),
        y_train=torch.from_numpy(ytr),
        x_test=torch.from_numpy(np.ascontiguousarray(xte)),
        y_test=torch.from_numpy(yte),
        class_names=class_names,
        fingerprint=fp,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        augment=augment or Augment(),
        bytes_per_example=raw_bytes,
    )
    if (g_train is None) != (g_test is None):
        raise DataDietError("groups need both g_train and g_test")
    if g_train is None:
        if group_names is not None:
            raise DataDietError("group_names needs the groups it names: give g_train and g_test too")
        return ds
    return with_groups(ds, g_train, g_test, group_names)


def from_torch(train, test, *, name: str = "torch", class_names=None, g_train=None, g_test=None) -> Dataset:
    """A :class:`Dataset` from two map-style ``torch.utils.data.Dataset`` s of ``(x, y)`` (train, test),
    for the built-in trainer, scoring runs and sweeps, which hold the data in memory once. Data too
    large for that stays a torch Dataset: the score functions stream it batch by batch, and a loop
    of your own uses :class:`datadiet.scores.tracker.Tracker` and
    :class:`datadiet.training.sampler.DynamicSampler`."""
    parts = []
    for split, data in (("train", train), ("test", test)):
        if not (isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__")):
            raise DataDietError(f"{split} must be a map-style torch Dataset of (x, y), got {type(data).__name__}")
        xs, ys = [], []
        for i in range(len(data)):
            item = data[i]
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise DataDietError(f"{split}[{i}] must be an (x, y) pair")
            x, y = item
            xs.append(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x))
            ys.append(int(y))
        parts += [np.stack(xs) if xs else np.empty((0,)), np.asarray(ys, dtype=np.int64)]
    return from_arrays(name, *parts, class_names=class_names, g_train=g_train, g_test=g_test)

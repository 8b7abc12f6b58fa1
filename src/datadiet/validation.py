"""The one place that validates user input. Messages name the parameter and the value received."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from datadiet.errors import DataDietError


def check_positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataDietError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise DataDietError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def check_positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataDietError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise DataDietError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def check_epoch(name: str, value) -> int | float:
    """An epoch count >= 0 that may be fractional (``0.5``: half an epoch); whole numbers come back as
    ints, so ``2.0`` and ``2`` name the same run."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataDietError(f"{name} must be a number of epochs >= 0, got {value!r}")
    v = check_positive_float(name, value, allow_zero=True)
    return int(v) if v.is_integer() else v


def check_fraction(name: str, value, *, allow_one: bool = True, allow_zero: bool = True) -> float:
    """A fraction in [0, 1] (or [0, 1) with ``allow_one=False``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataDietError(f"{name} must be a number in [0, 1], got {value!r}") from None
    hi = "1]" if allow_one else "1)"
    lo = "[0" if allow_zero else "(0"
    if not math.isfinite(v) or v < 0 or v > 1 or (v == 1 and not allow_one) or (v == 0 and not allow_zero):
        raise DataDietError(f"{name} must be in {lo}, {hi}, got {value!r}")
    return v


def check_rate(name: str, value) -> float:
    """A real number strictly between 0 and 1 (a pruning rate): not a bool, a string or a bound."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (0 < value < 1):
        raise DataDietError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def check_step_in_schedule(name: str, step: int, total: int) -> int:
    """A step of a training schedule of ``total`` steps (0 = the initialisation)."""
    if step > total:
        raise DataDietError(f"{name} must be <= the schedule's {total} steps, got {step}")
    return step


def check_copies(value) -> int:
    """How many copies a connectivity measurement trains: pairs need at least two."""
    copies = check_positive_int("copies", value)
    if copies < 2:
        raise DataDietError(f"copies must be >= 2 (connectivity compares pairs), got {copies}")
    return copies


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    if value not in choices:
        raise DataDietError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")
    return value


def parse_floats(name: str, text: str) -> list[float]:
    """A comma-separated list of numbers (e.g. ``--fractions 0,0.3,0.5``); ranges are checked by the caller."""
    out = []
    for item in parse_list(name, text):
        try:
            out.append(float(item))
        except ValueError:
            raise DataDietError(f"{name} must be comma-separated numbers, got {item!r}") from None
    return out


def parse_ints(name: str, text: str) -> list[int]:
    """A comma-separated list of whole numbers (e.g. ``--branch-levels 7,14``); ranges are checked by the caller."""
    items = parse_list(name, text)
    bad = [t for t in items if not t.lstrip("-").isdigit()]
    if bad:
        raise DataDietError(f"{name} must be comma-separated whole numbers, got {bad[0]!r}")
    return [int(t) for t in items]


def parse_list(name: str, text: str) -> list[str]:
    """Split a comma-separated option; refuses an empty list."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise DataDietError(f"{name} must list at least one value, got {text!r}")
    return items


def as_inputs_targets(inputs, targets, *, num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate and convert (inputs, targets) to tensors on the CPU.

    inputs: (N, ...) real numbers: floats become float32 and must be finite; 32- and 64-bit integers
    (token ids for an ``nn.Embedding``, which accepts no narrower type) become int64; 8- and 16-bit
    integers (raw pixels) become float32, as images always did. Bool, complex and non-numeric
    dtypes are refused.
    targets: (N,) integers in [0, num_classes), returned as int64.
    """
    if isinstance(inputs, torch.Tensor):
        x = inputs
        if x.dtype == torch.bool or x.is_complex() or x.is_quantized:
            raise DataDietError(f"inputs must be real numbers (floats, or integer ids), got dtype {x.dtype}")
    else:
        try:
            arr = np.asarray(inputs)
        except (TypeError, ValueError) as e:
            raise DataDietError(f"inputs must be an array of numbers: {e}") from None
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise DataDietError(f"inputs must be real numbers (floats, or integer ids), got dtype {arr.dtype}")
        x = torch.as_tensor(arr)
    y = torch.as_tensor(np.asarray(targets) if not isinstance(targets, torch.Tensor) else targets)
    if x.ndim < 2:
        raise DataDietError(f"inputs must have shape (N, ...) with at least 2 dims, got shape {tuple(x.shape)}")
    if y.ndim != 1:
        raise DataDietError(f"targets must have shape (N,), got shape {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise DataDietError(f"inputs and targets must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if not x.is_floating_point() and x.element_size() < 4:  # uint8/int8/int16: pixel values, not ids
        x = x.float()
    if x.is_floating_point():
        if x.dtype != torch.float32:
            x = x.float()
        if not _all_finite(x):
            raise DataDietError("inputs contain NaN or infinite values")
    else:
        x = x.long()  # integer inputs (token ids) stay integers
    if y.is_floating_point():
        if not torch.isfinite(y).all() or (y != y.round()).any():
            raise DataDietError("targets must be integer class labels, got non-integer values")
    y = y.long()
    if y.numel() and y.min() < 0:
        raise DataDietError(f"targets must be >= 0, got {int(y.min())}")
    if num_classes is not None and y.numel() and y.max() >= num_classes:
        raise DataDietError(f"targets must be < num_classes={num_classes}, got {int(y.max())}")
    return x, y


_FINITE_CHUNK = 1 << 18  # elements per finiteness check: its temporaries stay near 2 MB whatever N is


def _all_finite(x: torch.Tensor) -> bool:
    """``torch.isfinite(x).all()``, a slab of rows at a time (one pass over all of x allocates
    several times its size in temporaries, which would make memory grow with the dataset)."""
    rows = max(1, _FINITE_CHUNK // max(1, x[0].numel())) if x.shape[0] else 1
    return all(bool(torch.isfinite(x[i : i + rows]).all()) for i in range(0, x.shape[0], rows))


def check_indices(name: str, indices, n: int) -> np.ndarray:
    """Unique int64 indices into a set of size n, sorted."""
    idx = np.asarray(indices)
    if idx.ndim != 1:
        raise DataDietError(f"{name} must be 1-D, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise DataDietError(f"{name} must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise DataDietError(f"{name} must lie in [0, {n}), got values in [{idx.min()}, {idx.max()}]")
    if np.unique(idx).size != idx.size:
        raise DataDietError(f"{name} must not repeat an index")
    return np.sort(idx)


def seeds_from(name: str, seeds: Sequence[int] | int) -> list[int]:
    if isinstance(seeds, (int, np.integer)):
        check_positive_int(name, seeds)
        return list(range(int(seeds)))
    out = [check_positive_int(name, s, allow_zero=True) for s in seeds]
    if not out:
        raise DataDietError(f"{name} must name at least one seed")
    return out


def check_finite_1d(name: str, values, *, allow_empty: bool = False) -> np.ndarray:
    """A 1-D array of real, finite numbers, returned as float64.

    NaN and +/-inf are refused (the message counts them); so are bool, complex and non-numeric dtypes.
    """
    arr = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)
    if arr.ndim != 1:
        raise DataDietError(f"{name} must be 1-D with shape (N,), got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise DataDietError(f"{name} must not be empty")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DataDietError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise DataDietError(f"{name} must be finite, got {n_nan} NaN and {n_inf} infinite value(s) out of {arr.size}")
    return arr


def check_count_or_fraction(name: str, value, n: int) -> int:
    """A fraction of n (a float in [0, 1]) or a count (an int in [0, n]); returns the count.

    A fraction f becomes ``floor(f * n + 0.5)`` (round half up). Bools are refused, so are floats
    outside [0, 1]: ``1.0`` means all n, ``1`` means one example.
    """
    if isinstance(value, (bool, np.bool_)):
        raise DataDietError(f"{name} must be a fraction in [0, 1] or an integer count, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if not 0 <= value <= n:
            raise DataDietError(f"{name} must be a count in [0, {n}], got {value!r}")
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise DataDietError(f"{name} must be a fraction in [0, 1] (or an integer count), got {value!r}")
        return int(math.floor(float(value) * n + 0.5))
    raise DataDietError(f"{name} must be a fraction in [0, 1] or an integer count, got {value!r}")


def check_labels(name: str, labels, n: int) -> np.ndarray:
    """Integer class labels of shape (n,), returned as int64."""
    arr = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels)
    if arr.shape != (n,):
        raise DataDietError(f"{name} must have shape ({n},), got shape {arr.shape}")
    if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
        raise DataDietError(f"{name} must be integer class labels, got dtype {arr.dtype}")
    return arr.astype(np.int64)

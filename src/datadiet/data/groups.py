"""Groups of examples beyond classes: who pays for the diet?

A group is an integer per example, given with the data (``g_train``/``g_test`` in an npz: an
attribute, a data source) or computed by a registered grouping (:data:`GROUPINGS`, e.g. image
brightness quartiles). Groups change no training: a training run's test predictions are kept, and
per-group accuracy is computed from them, so any grouping can be applied to finished runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.errors import DataDietError


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


def with_groups(dataset: Dataset, g_train, g_test, group_names=None) -> Dataset:
    """``dataset`` with a group per training and test example (validated)."""
    gtr = check_groups("g_train", g_train, dataset.num_train)
    gte = check_groups("g_test", g_test, int(dataset.x_test.shape[0]))
    k = int(max(gtr.max(initial=0), gte.max(initial=0))) + 1
    names = tuple(str(v) for v in group_names) if group_names is not None else tuple(f"group {i}" for i in range(k))
    if len(names) < k:
        raise DataDietError(f"group ids go up to {k - 1} but only {len(names)} group names given")
    return dataclasses.replace(dataset, g_train=gtr, g_test=gte, group_names=names)


def brightness_quartiles(dataset: Dataset) -> Dataset:
    """Four groups by mean input brightness (raw scale): quartile edges from the training set, applied
    to both splits. A synthetic attribute for checking who pays for the diet on image data."""

    def mean_brightness(x):
        return dataset.denormalise(x).flatten(1).double().mean(1).numpy()

    tr, te = mean_brightness(dataset.x_train), mean_brightness(dataset.x_test)
    edges = np.quantile(tr, [0.25, 0.5, 0.75])
    names = ("darkest quarter", "second quarter", "third quarter", "brightest quarter")
    return with_groups(dataset, np.digitize(tr, edges), np.digitize(te, edges), names)


GROUPINGS = {"brightness": brightness_quartiles}


def apply_grouping(dataset: Dataset, grouping: str | None) -> Dataset:
    """``grouping`` None keeps the dataset's own groups (if any); a name computes them."""
    if grouping is None:
        return dataset
    if grouping not in GROUPINGS:
        raise DataDietError(f"unknown grouping {grouping!r}; valid: {', '.join(GROUPINGS)}")
    return GROUPINGS[grouping](dataset)


def group_accuracy(predictions, labels, groups, num_groups: int) -> list[float]:
    """Test accuracy within each group (NaN for a group with no test example)."""
    pred, y, g = (np.asarray(a) for a in (predictions, labels, groups))
    correct = (pred == y).astype(np.float64)
    counts = np.bincount(g, minlength=num_groups).astype(np.float64)
    hits = np.bincount(g, weights=correct, minlength=num_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [float(v) for v in np.where(counts > 0, hits / counts, np.nan)]

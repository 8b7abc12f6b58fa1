"""Groups of examples beyond classes: who pays for the diet?

A group is an integer per example, given with the data (``g_train``/``g_test`` in an npz: an
attribute, a data source) or computed by a registered grouping (:data:`GROUPINGS`, e.g. image
brightness quartiles). Groups change no training: a training run's test predictions are kept, and
per-group accuracy is computed from them, so any grouping can be applied to finished runs. Groups
are attached to a :class:`~datadiet.data.dataset.Dataset` by :func:`with_groups` (defined with the
dataset, which takes them on construction, and re-exported here).
"""

from __future__ import annotations

import numpy as np

from datadiet.data.dataset import Dataset, check_groups, with_groups
from datadiet.data.lazy import per_row
from datadiet.errors import DataDietError

__all__ = [
    "GROUPINGS",
    "apply_grouping",
    "brightness_quartiles",
    "check_groups",
    "group_accuracy",
    "with_groups",
]


def brightness_quartiles(dataset: Dataset) -> Dataset:
    """Four groups by mean input brightness (raw scale): quartile edges from the training set, applied
    to both splits (and to the validation part, if any). A synthetic attribute for checking who pays for the diet on image data."""

    def mean_brightness(x):  # inputs read lazily: batch by batch
        return per_row(lambda rows: dataset.denormalise(rows).flatten(1).double().mean(1).numpy(), x)

    tr, te = mean_brightness(dataset.x_train), mean_brightness(dataset.x_test)
    edges = np.quantile(tr, [0.25, 0.5, 0.75])
    names = ("darkest quarter", "second quarter", "third quarter", "brightest quarter")
    va = None if dataset.x_val is None else np.digitize(mean_brightness(dataset.x_val), edges)
    return with_groups(dataset, np.digitize(tr, edges), np.digitize(te, edges), names, g_val=va)


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

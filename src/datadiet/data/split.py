"""A validation split: a stratified, seeded hold-out of the training examples.

Choices a study makes (a pruning method, a fraction, a learning rate) should be made on accuracy
measured on examples that no run trains on, so that test accuracy is only reported.
:func:`split_validation` moves such examples from the training set into ``x_val``/``y_val``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.data.lazy import take_rows
from datadiet.errors import DataDietError
from datadiet.validation import check_fraction, check_positive_int

VAL_SALT = 0x76616C  # "val": the split's random stream is apart from the label noise's


def val_count(fraction: float, n: int) -> int:
    """Validation examples taken from a class of ``n`` training examples: ``fraction * n`` rounded
    half up, at least 1 when ``fraction > 0`` and the class has 2 or more examples."""
    k = math.floor(fraction * n + 0.5)
    return max(k, 1) if fraction > 0 and n >= 2 else k


def check_val_fraction(fraction) -> float:
    """A validation fraction in [0, 1): one line naming ``val_fraction`` otherwise."""
    if isinstance(fraction, bool):
        raise DataDietError(f"val_fraction must be a number in [0, 1), got {fraction!r}")
    return check_fraction("val_fraction", fraction, allow_one=False)


def _val_rows(labels: np.ndarray, fraction: float, seed: int, class_names) -> np.ndarray:
    """The sorted rows held out: :func:`val_count` of each class's rows, drawn by ``seed``."""
    rng = np.random.default_rng([seed, VAL_SALT])
    chosen = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        k = val_count(fraction, rows.size)
        if k >= rows.size:
            name = class_names[c] if c < len(class_names) else str(c)
            raise DataDietError(
                f"val_fraction={fraction:g} would hold out all {rows.size} training example(s) of class "
                f"{name!r}, leaving none to train on; use a smaller val_fraction"
            )
        chosen.append(rng.choice(rows, size=k, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _rows(a, rows: np.ndarray):
    return None if a is None else a[rows]


def split_validation(dataset: Dataset, fraction: float, seed: int = 0) -> Dataset:
    """``dataset`` with a stratified, seeded validation part held out of its training set.

    Rule: from each class with ``n`` training examples, ``val_count(fraction, n)`` examples
    (``fraction * n`` rounded half up; at least 1 when ``fraction > 0`` and ``n >= 2``) are drawn
    without replacement by ``seed`` and moved to ``x_val``/``y_val`` (``g_val`` when the data has
    groups); a class that would lose all its training examples is refused, and so is a fraction that
    holds out nothing (only possible with single-example classes). ``fraction`` 0 returns
    ``dataset`` unchanged.

    * The training part keeps its stable indices: ``index`` (``index_train``) gives each remaining
      row's index in the unsplit training set, ``index_val`` the held-out ones', both ascending, so
      score tables, index files and exports still name the original examples.
    * The normalisation statistics are those of the full training set, computed before the split
      (as without a split): the held-out examples take part in them, nothing else of them does.
    * Labels are split as they are: with label noise the validation labels carry the same noise (as a
      held-out part of noisily labelled data would); ``noisy``/``y_train_clean`` follow the training rows.
    * The fingerprint gets ``-val<fraction>s<seed>``, so every job on the split data has its own key.
    """
    fraction = check_val_fraction(fraction)
    seed = check_positive_int("val_seed", seed, allow_zero=True)
    if fraction == 0:
        return dataset
    if dataset.x_val is not None:
        raise DataDietError(
            f"dataset {dataset.name!r} already has a validation part (val_fraction={dataset.val_fraction:g})"
        )
    labels = dataset.y_train.numpy()
    val = _val_rows(labels, fraction, seed, dataset.class_names)
    if val.size == 0:
        raise DataDietError(f"val_fraction={fraction:g} holds out no example of the {labels.size} training examples")
    keep = np.setdiff1d(np.arange(labels.size, dtype=np.int64), val)
    index = dataset.index
    return dataclasses.replace(
        dataset,
        x_train=take_rows(dataset.x_train, keep),  # inputs read lazily stay so: a view of the rows
        y_train=dataset.y_train[keep],
        x_val=take_rows(dataset.x_train, val),
        y_val=dataset.y_train[val],
        g_train=_rows(dataset.g_train, keep),
        g_val=_rows(dataset.g_train, val),
        y_train_clean=_rows(dataset.y_train_clean, keep),
        noisy=_rows(dataset.noisy, keep),
        files_train=tuple(dataset.files_train[i] for i in keep) if dataset.files_train else (),
        index_train=index[keep],
        index_val=index[val],
        val_fraction=fraction,
        val_seed=seed,
        fingerprint=f"{dataset.fingerprint}-val{fraction:g}s{seed}",
    )


def validation_info(dataset: Dataset) -> dict | None:
    """What a run records of the validation part: ``{"fraction", "seed", "examples"}``, or None."""
    if dataset.x_val is None:
        return None
    return {"fraction": dataset.val_fraction, "seed": dataset.val_seed, "examples": dataset.num_val}


def dataset_description(key: dict, dataset: Dataset) -> dict:
    """A run summary's ``dataset`` entry: the spec's ``key`` (name, fingerprint), with ``validation``
    (:func:`validation_info`) when the data has a validation part; ``key`` as it is otherwise."""
    info = validation_info(dataset)
    return key if info is None else {**key, "validation": info}

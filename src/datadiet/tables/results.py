"""A sweep's results rows, read as data: method order, the full-data rows, seed statistics.

A *sweep results table* is a :class:`pandas.DataFrame` with one row per (method, fraction, seed):

* ``method`` (str): the scoring method (``random``, ``el2n``, ``grand``, ...);
* ``fraction`` (float): the fraction of the training set **pruned** (0 = full data);
* ``seed`` (int), ``train_size`` (int);
* ``test_accuracy`` (float in [0, 1]) and ``class_<k>_accuracy`` for every class ``k``;
* ``val_accuracy`` (float in [0, 1]) only when the data has a validation part (``val_fraction`` > 0):
  the accuracy on the held-out training examples, the one to choose on
  (:func:`datadiet.tables.choice.best_on_validation`); without a validation part there is no such column;
* ``scoring_examples``, ``scoring_seconds``: the cost of computing the method's scores (repeated on
  each of its rows); ``train_examples``, ``train_seconds``: the cost of the final training run.

Fraction-0 rows may be labelled ``method == "full"`` or appear once under each method: either way
they are the same experiment (nothing pruned), so they are pooled and **the full-data accuracy is the
mean ``test_accuracy`` over all rows with ``fraction == 0``**. Every method's curve starts at that
pooled point.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.errors import DataDietError
from datadiet.training.dynamic import DYNAMIC_PRUNERS

FULL_METHOD = "full"

#: Display order of the known methods (random first); unknown methods follow by name. The plots'
#: :data:`datadiet.plots.sweep.METHOD_STYLES` has a style for each, in this order.
METHOD_ORDER = ("random", "el2n", "grand", "forgetting", "aum", "loss", "margin", "input-norm")


def method_key(method: str) -> str:
    """A method's name compared case- and separator-blind: ``"Input_Norm"`` -> ``"input-norm"``."""
    return str(method).strip().lower().replace("_", "-")


def method_order(methods) -> list[str]:
    """Methods in display order: random first, then the known methods, then the rest by name."""
    methods = list(dict.fromkeys(str(m) for m in methods))

    def rank(m: str):
        k = method_key(m).partition("@")[0]
        return (METHOD_ORDER.index(k), m) if k in METHOD_ORDER else (len(METHOD_ORDER), m)

    return sorted(methods, key=rank)


def is_dynamic(method: str) -> bool:
    """Whether ``method`` prunes dynamically inside training (:data:`datadiet.training.dynamic.DYNAMIC_PRUNERS`):
    no scoring pass, and its ``fraction`` is the fraction of training compute saved in expectation."""
    return method_key(method) in DYNAMIC_PRUNERS


def check_results(results, need: Sequence[str] = ()) -> pd.DataFrame:
    """A validated copy of a sweep results table: ``method`` as text, ``fraction`` in [0, 1) rounded to
    6 decimals (so 0.3 from different float paths groups together), finite ``test_accuracy``."""
    if not isinstance(results, pd.DataFrame):
        raise DataDietError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    need = ["method", "fraction", "test_accuracy", *need]
    missing = [c for c in dict.fromkeys(need) if c not in results.columns]
    if missing:
        raise DataDietError(f"results is missing column(s) {missing}; it has {list(results.columns)}")
    if len(results) == 0:
        raise DataDietError("results must have at least one row, got an empty table")
    df = results.copy()
    df["method"] = df["method"].astype(str)
    frac = pd.to_numeric(df["fraction"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(frac)) or frac.min() < 0 or frac.max() >= 1:
        raise DataDietError(
            f"results['fraction'] must be finite and in [0, 1), got values in [{np.nanmin(frac)}, {np.nanmax(frac)}]"
        )
    df["fraction"] = np.round(frac, 6)
    acc = pd.to_numeric(df["test_accuracy"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(acc)):
        raise DataDietError(
            f"results['test_accuracy'] must be finite, got {int((~np.isfinite(acc)).sum())} NaN value(s)"
        )
    return df


def normalise(results: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``method`` as text and ``fraction`` rounded to 6 decimals, unvalidated (older tables
    are read as they are)."""
    df = results.copy()
    df["method"] = df["method"].astype(str)
    df["fraction"] = np.round(pd.to_numeric(df["fraction"], errors="coerce").astype(float), 6)
    return df


def full_data_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The full-data runs, once each: a sweep repeats the shared full-data run under every method,
    so rows with fraction 0 are de-duplicated by seed when a ``seed`` column is present."""
    full = df[df["fraction"] == 0]
    return full.drop_duplicates("seed") if "seed" in full.columns else full


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full-data rows, once per seed; pruned rows)."""
    return full_data_rows(df), df[df["fraction"] != 0]


def require_full(full: pd.DataFrame, what: str) -> None:
    if len(full) == 0:
        raise DataDietError(f"{what} needs full-data rows (fraction == 0) in results, found none")


def point_stats(values: pd.Series) -> dict:
    """``mean``, ``std`` (ddof=1; 0 for one value), ``min``, ``max`` and ``n`` of accuracies."""
    v = values.to_numpy(dtype=float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": len(v),
    }


def seed_stats(values) -> tuple[float, float, int]:
    """``(mean, std, n)`` of accuracies in [0, 1] over training seeds, std with ddof=1 (NaN for n=1)."""
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce").dropna(), dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def middle_fraction(results: pd.DataFrame) -> float | None:
    """The pruned fraction closest to 50% (the one the per-class and per-group views show), or None."""
    pruned = sorted(f for f in results["fraction"].unique() if f > 0)
    return min(pruned, key=lambda f: abs(f - 0.5)) if pruned else None


def class_count(results: pd.DataFrame) -> int:
    """Number of classes the ``class_<k>_accuracy`` columns cover (largest k + 1; 0 without any)."""
    ks = (int(c.split("_")[1]) for c in results.columns if str(c).startswith("class_") and str(c).endswith("_accuracy"))
    return max(ks, default=-1) + 1


def sole_value(results: pd.DataFrame | None, column: str) -> str | None:
    """The one value of ``column`` shared by every row, as text (None when absent or not unique)."""
    if results is not None and column in results.columns and results[column].nunique() == 1:
        return str(results[column].iloc[0])
    return None


def full_data_steps(results: pd.DataFrame | None) -> int | None:
    """Optimiser steps of a full-data run, from the results' ``steps`` column (None when unknown)."""
    if results is not None and "steps" in results.columns and "fraction" in results.columns:
        steps = pd.to_numeric(results.loc[results["fraction"] == 0, "steps"], errors="coerce").dropna()
        if len(steps):
            return int(steps.iloc[0])
    return None


def equal_steps(results: pd.DataFrame | None) -> int | None:
    """The step count every run trains under an equal-steps budget, when the results say one (else None)."""
    if results is not None and "budget" in results.columns and "steps" in results.columns:
        steps = pd.to_numeric(results["steps"], errors="coerce").dropna()
        if (results["budget"] == "steps").all() and steps.nunique() == 1:
            return int(steps.iloc[0])
    return None


def scored_at(results: pd.DataFrame) -> dict[str, str]:
    """``{method: when it scored}`` from the ``scored_at`` column of the pruned rows, in display order,
    methods without a value left out (empty without the column)."""
    if "scored_at" not in results.columns:
        return {}
    rows = results.loc[pd.to_numeric(results["fraction"], errors="coerce") > 0, ["method", "scored_at"]]
    at = rows.fillna("").astype(str).drop_duplicates("method").set_index("method")["scored_at"]
    return {m: at[m].strip() for m in method_order(at.index) if at[m].strip()}


ENVIRONMENT_COLUMNS = ("cpu", "threads", "torch")


def environment(results: pd.DataFrame) -> dict[str, list[str]]:
    """``{column: distinct non-empty values}`` of the machine columns (``cpu``, ``threads``, ``torch``) present."""
    out = {}
    for col in ENVIRONMENT_COLUMNS:
        if col in results.columns:
            vals = [str(v) for v in pd.unique(results[col].dropna()) if str(v).strip()]
            if vals:
                out[col] = vals
    return out


def derive_summary(results: pd.DataFrame, folder: str | Path | None = None) -> dict:
    """What a sweep's ``summary.json`` would say, from ``results.parquet`` alone (for folders without one).

    Only the budget (``budget`` column), the number of training seeds and of training examples are
    known; ``config["train"]`` is empty, so :func:`datadiet.reports.describe_setup` says "schedule unknown".
    """
    cfg: dict = {"train": {}}
    budget = sole_value(results, "budget")
    if budget is not None:
        cfg["budget"] = budget
    if "seed" in results.columns:
        cfg["seeds"] = int(results["seed"].nunique())
    full = results[results["fraction"] == 0] if "fraction" in results.columns else results.iloc[:0]
    num_train = int(full["train_size"].iloc[0]) if len(full) and "train_size" in full.columns else None
    return {
        "dataset": {"name": None},
        "class_names": [],
        "num_train": num_train,
        "config": cfg,
        "figures": {},
        "command": None,
        "derived_from_results": True,
        "folder": Path(folder).name if folder is not None else None,
    }

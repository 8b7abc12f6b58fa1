"""Choosing among candidates on validation accuracy, never on test accuracy.

Rows from data with a validation part (``val_fraction`` > 0) carry ``val_accuracy`` beside
``test_accuracy``; :func:`best_on_validation` picks the candidate (a method, a fraction, any group of
rows) with the highest mean validation accuracy and reports its test accuracy. Rows without
validation accuracy are refused, so nothing can silently choose on test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from datadiet.errors import DataDietError

VAL_COLUMN = "val_accuracy"


def _candidate_columns(results: pd.DataFrame, by) -> list[str]:
    cols = [by] if isinstance(by, str) else list(by)
    if not cols:
        raise DataDietError("by must name at least one column that tells the candidates apart, got none")
    if VAL_COLUMN in cols or "test_accuracy" in cols:
        raise DataDietError(f"by names the candidates (e.g. method, fraction), not an accuracy, got {cols}")
    missing = [c for c in cols if c not in results.columns]
    if missing:
        raise DataDietError(f"results is missing column(s) {missing} named by by; it has {list(results.columns)}")
    return cols


def _validation(results: pd.DataFrame) -> np.ndarray:
    if VAL_COLUMN not in results.columns:
        raise DataDietError(
            "results have no validation accuracy (no 'val_accuracy' column): run with a validation part "
            "(val_fraction > 0, CLI --val-fraction) to choose on it; choosing on test accuracy is refused"
        )
    val = pd.to_numeric(results[VAL_COLUMN], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(val).all():
        raise DataDietError(
            f"results['val_accuracy'] must be finite, got {int((~np.isfinite(val)).sum())} NaN value(s): "
            "rows without validation accuracy cannot be chosen among"
        )
    return val


def validation_ranking(results: pd.DataFrame, by: str | Sequence[str] = ("method", "fraction")) -> pd.DataFrame:
    """Every candidate (a distinct value of the ``by`` columns) with its rows' mean, sample std (ddof=1,
    NaN for one row) and count of ``val_accuracy``, and its mean ``test_accuracy`` when present (only
    reported), best validation accuracy first; ties keep the candidates' sorted order."""
    if not isinstance(results, pd.DataFrame):
        raise DataDietError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    if len(results) == 0:
        raise DataDietError("results must have at least one row, got an empty table")
    cols = _candidate_columns(results, by)
    df = results.assign(**{VAL_COLUMN: _validation(results)})
    agg = {"val_accuracy": (VAL_COLUMN, "mean"), "val_std": (VAL_COLUMN, "std"), "n": (VAL_COLUMN, "size")}
    if "test_accuracy" in df.columns:
        df["test_accuracy"] = pd.to_numeric(df["test_accuracy"], errors="coerce")
        agg["test_accuracy"] = ("test_accuracy", "mean")
    table = df.groupby(cols, sort=True).agg(**agg).reset_index()
    return table.sort_values(VAL_COLUMN, ascending=False, kind="mergesort").reset_index(drop=True)


def best_on_validation(results: pd.DataFrame, by: str | Sequence[str] = ("method", "fraction")) -> dict:
    """The candidate with the highest mean validation accuracy: ``{"choice": {column: value},
    "val_accuracy", "val_std", "n", "test_accuracy"}`` (test accuracy only reported, None without the
    column). ``by`` names the columns that tell candidates apart (one name or several). Refused with a
    :class:`~datadiet.errors.DataDietError` when the rows have no (or missing) validation accuracy."""
    table = validation_ranking(results, by)
    cols = [by] if isinstance(by, str) else list(by)
    best = table.iloc[0]

    def plain(v):
        return v.item() if isinstance(v, np.generic) else v

    return {
        "choice": {c: plain(best[c]) for c in cols},
        "val_accuracy": float(best["val_accuracy"]),
        "val_std": float(best["val_std"]),
        "n": int(best["n"]),
        "test_accuracy": float(best["test_accuracy"]) if "test_accuracy" in table.columns else None,
    }

"""Kirsch (2023): GraNd at initialisation ranks examples almost like their input norm ‖x‖₂.

:func:`norm_correlation` measures it: Spearman's rho of a score against the input norm, over all
examples and within each class, with its spread over the initialisations the score was averaged over
(so the claim does not rest on one draw). :func:`norm_correlation_summary` is the same as plain
JSON values for ``summary.json``. Pure: arrays in, a table and a dict out.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from datadiet.errors import DataDietError

ALL = "all"  # the class column's value for the row over every example
SPREAD = ("init_mean", "init_min", "init_max")  # rho per initialisation: mean, min, max
COLUMNS = ("class", "n", "spearman", "initialisations", *SPREAD)


def _vector(name: str, values, n: int | None = None) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1:
        raise DataDietError(f"{name} must be one value per example (1-D), got shape {a.shape}")
    if n is not None and len(a) != n:
        raise DataDietError(f"{name} must have one value per example ({n}), got {len(a)}")
    return a


def _finite(name: str, values, n: int) -> np.ndarray:
    a = _vector(name, values, n)
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise DataDietError(f"{name} must be real numbers, got {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise DataDietError(f"{name} must be finite, got {int((~np.isfinite(a)).sum())} NaN or infinite value(s)")
    return a


def spearman_rho(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties); NaN for fewer than 2 examples or a constant column
    (no ranking to compare)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a, b).statistic)


def norm_correlation(
    scores: np.ndarray,
    norms: np.ndarray,
    labels: np.ndarray,
    *,
    per_init: list[np.ndarray] | None = None,
) -> pd.DataFrame:
    """Spearman's rho of ``scores`` (per example, averaged over initialisations) against the input
    ``norms``: one row over every example (class ``"all"``, first), then one per class (its label as
    text, in label order), each with its number of examples ``n``.

    With ``per_init`` (each initialisation's scores), every row also has ``spearman_init_<i>`` (rho of
    initialisation i's scores) and, from 2 initialisations on, their mean, min and max (``init_mean``,
    ``init_min``, ``init_max``; NaN with fewer). ``initialisations`` counts them (0 without).
    """
    labels = _vector("labels", labels)
    n = len(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataDietError(f"labels must be integer class labels, got {labels.dtype}")
    s = _finite("scores", scores, n)
    x = _finite("norms", norms, n)
    inits = [_finite(f"per_init[{i}]", p, n) for i, p in enumerate(per_init or [])]
    k = len(inits)
    groups = [(ALL, np.ones(n, dtype=bool))] + [(str(int(c)), labels == c) for c in np.unique(labels)]
    rows = []
    for name, m in groups:
        rhos = [spearman_rho(p[m], x[m]) for p in inits]
        spread = (np.mean(rhos), np.min(rhos), np.max(rhos)) if k >= 2 else (np.nan,) * 3
        row = {"class": name, "n": int(m.sum()), "spearman": spearman_rho(s[m], x[m]), "initialisations": k}
        row.update({c: float(v) for c, v in zip(SPREAD, spread)})
        row.update({f"spearman_init_{i}": r for i, r in enumerate(rhos)})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, *(f"spearman_init_{i}" for i in range(k))])


def _number(v) -> float | None:
    """A float for JSON: None for NaN (JSON has no NaN)."""
    v = float(v)
    return v if np.isfinite(v) else None


def _entry(row: pd.Series) -> dict:
    return {"spearman": _number(row["spearman"]), "n": int(row["n"]), **{c: _number(row[c]) for c in SPREAD}}


def norm_correlation_summary(table: pd.DataFrame, *, method: str) -> dict:
    """A :func:`norm_correlation` table as plain JSON values: the ``"all"`` row's ``spearman``, ``n``
    and spread over initialisations, ``per_class`` (``{label: {spearman, n, init_mean, init_min,
    init_max}}``), ``initialisations`` and ``per_init`` (the overall rho of each initialisation);
    ``method`` names the sweep's GraNd-at-initialisation method (e.g. ``"grand@0"``). NaN -> None."""
    if not len(table) or table["class"].iloc[0] != ALL:
        raise DataDietError("table must be a norm_correlation table (its first row is class 'all')")
    first = table.iloc[0]
    k = int(first["initialisations"])
    return {
        "method": method,
        **_entry(first),
        "initialisations": k,
        "per_init": [_number(first[f"spearman_init_{i}"]) for i in range(k)],
        "per_class": {str(r["class"]): _entry(r) for _, r in table.iloc[1:].iterrows()},
    }

"""Accuracy tables of a sweep: per (method, fraction) over seeds, against full data and random pruning,
and the per-class / per-group changes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from datadiet.errors import DataDietError
from datadiet.tables.results import (
    FULL_METHOD,
    check_results,
    full_data_rows,
    method_order,
    normalise,
    point_stats,
    require_full,
    seed_stats,
    split,
)

POINT_COLUMNS = ["method", "fraction", "accuracy", "accuracy_std", "accuracy_min", "accuracy_max", "n"]


def _point(method: str, fraction: float, s: dict) -> dict:
    return {
        "method": method,
        "fraction": fraction,
        "accuracy": s["mean"],
        "accuracy_std": s["std"],
        "accuracy_min": s["min"],
        "accuracy_max": s["max"],
        "n": s["n"],
    }


def fraction_points(results: pd.DataFrame) -> pd.DataFrame:
    """The points of :func:`datadiet.plots.accuracy_vs_fraction`: the full-data point first (method
    ``"full"``, fraction 0, pooled over every fraction-0 row once per seed) when there is one, then one
    row per (method, fraction > 0) in display order. Columns ``method``, ``fraction``, ``accuracy``,
    ``accuracy_std`` (ddof=1, 0 for one seed), ``accuracy_min``, ``accuracy_max`` (in [0, 1]) and ``n`` (seeds)."""
    df = check_results(results)
    full, pruned = split(df)
    rows = [_point(FULL_METHOD, 0.0, point_stats(full["test_accuracy"]))] if len(full) else []
    groups = {key: point_stats(g["test_accuracy"]) for key, g in pruned.groupby(["method", "fraction"])}
    for m in method_order(pruned["method"].unique()):
        rows += [_point(m, float(f), groups[(m, f)]) for f in sorted(f for (mm, f) in groups if mm == m)]
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def accuracy_cells(results: pd.DataFrame, column: str = "test_accuracy") -> dict[str, dict[float, np.ndarray]]:
    """``{method: {fraction: test accuracies over seeds}}`` in display order (of ``column``, e.g.
    ``val_accuracy``); fraction 0 holds the pooled full-data runs (once per seed) under every method."""
    df = normalise(results)
    full = full_data_rows(df)[column].to_numpy(dtype=float)
    methods = method_order(m for m in df["method"].unique() if m != FULL_METHOD) or [FULL_METHOD]
    fracs = sorted(set(df["fraction"]))
    out: dict[str, dict[float, np.ndarray]] = {}
    for m in methods:
        out[m] = {}
        for f in fracs:
            vals = full if f == 0 else df.loc[(df["method"] == m) & (df["fraction"] == f), column].to_numpy(dtype=float)
            if len(vals):
                out[m][float(f)] = vals
    return out


def accuracy_table(results: pd.DataFrame, *, with_std: bool = False, column: str = "test_accuracy") -> pd.DataFrame:
    """Mean test accuracy (%) per method (rows) and fraction pruned (columns), 2 decimals (of
    ``column``: ``"val_accuracy"`` gives the validation accuracy of data with a validation part).

    The index is ``method`` (display order, ``full`` excluded), the columns are the fractions pruned
    as floats (``0.0`` included when full-data rows exist; it holds the pooled full-data accuracy for
    every method). Missing (method, fraction) cells are NaN.

    ``with_std=True`` returns the same layout with string cells ``"93.21 ± 0.12"`` (mean ± sample
    standard deviation over seeds, 0.00 for a single seed; empty string where missing), ready for
    ``to_string()`` / ``to_markdown()`` in a README or report.
    """
    df = check_results(results, need=(column,))
    full, pruned = split(df)
    methods = method_order(pruned["method"].unique())
    if not methods:
        methods = method_order(m for m in df["method"].unique() if m != FULL_METHOD) or [FULL_METHOD]
    fracs = sorted(float(f) for f in set(df["fraction"]))
    mean = pd.DataFrame(np.nan, index=pd.Index(methods, name="method"), columns=pd.Index(fracs, name="fraction_pruned"))
    std = mean.copy()
    if len(full):
        s = point_stats(full[column])
        mean[0.0], std[0.0] = s["mean"] * 100, s["std"] * 100
    for (m, f), g in pruned.groupby(["method", "fraction"]):
        if m in mean.index:
            s = point_stats(g[column])
            mean.loc[m, float(f)], std.loc[m, float(f)] = s["mean"] * 100, s["std"] * 100
    mean, std = mean.round(2), std.round(2)
    if not with_std:
        return mean
    text = pd.DataFrame("", index=mean.index, columns=mean.columns, dtype=object)
    for m in mean.index:
        for f in mean.columns:
            if pd.notna(mean.loc[m, f]):
                text.loc[m, f] = f"{mean.loc[m, f]:.2f} ± {std.loc[m, f]:.2f}"
    return text


COMPARISON_COLUMNS = [
    "method",
    "fraction_pruned",
    "accuracy",
    "std",
    "seeds",
    "vs_full_points",
    "full_seeds",
    "vs_random_points",
    "random_seeds",
]


def comparisons(results: pd.DataFrame) -> pd.DataFrame:
    """Per (method, fraction > 0): mean accuracy, its std over seeds, its difference to full data and
    to random pruning (points), with the number of seeds behind each mean."""
    cells = accuracy_cells(results)
    full_mean, _, full_n = seed_stats(full_data_rows(normalise(results))["test_accuracy"])
    rows = []
    for m, row in cells.items():
        for f, vals in row.items():
            if f == 0:
                continue
            mean, std, n = seed_stats(vals)
            rnd = cells.get("random", {}).get(f)
            rnd_mean, _, rnd_n = seed_stats(rnd) if rnd is not None and m != "random" else (np.nan, np.nan, 0)
            rows.append(
                {
                    "method": m,
                    "fraction_pruned": f,
                    "accuracy": mean,
                    "std": std,
                    "seeds": n,
                    "vs_full_points": 100 * (mean - full_mean) if full_n else np.nan,
                    "full_seeds": full_n,
                    "vs_random_points": 100 * (mean - rnd_mean) if rnd_n else np.nan,
                    "random_seeds": rnd_n,
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Per class and per group
# --------------------------------------------------------------------------------------------------

_CLASS_COLUMN = re.compile(r"^class_(\d+)_accuracy$")


def subgroup_columns(df: pd.DataFrame, kind: str) -> list[str]:
    """``class_K_accuracy`` (``kind="class"``) or ``group_K_accuracy`` columns, by K."""
    cols = [c for c in df.columns if c.startswith(f"{kind}_") and c.endswith("_accuracy") and c.split("_")[1].isdigit()]
    return sorted(cols, key=lambda c: int(c.split("_")[1]))


def subgroup_changes(df: pd.DataFrame, kind: str, target: float) -> pd.DataFrame:
    """Per method at ``target`` pruned: the change of each class's (``kind="class"``) or group's
    accuracy against full data, in points (differences of means over seeds); columns by K."""
    cols = subgroup_columns(df, kind)
    full = full_data_rows(df)[cols].astype(float).mean()
    out = {}
    for m in method_order(df.loc[df["fraction"] == target, "method"].unique()):
        sub = df[(df["method"] == m) & (df["fraction"] == target)]
        out[m] = 100 * (sub[cols].astype(float).mean() - full)
    return pd.DataFrame(out).T.rename(columns=lambda c: int(c.split("_")[1]))


def cell_seeds(df: pd.DataFrame, fraction: float) -> dict[str, int]:
    """``{method: number of rows (seeds)}`` at ``fraction``."""
    at = df[df["fraction"] == fraction]
    return {m: int((at["method"] == m).sum()) for m in at["method"].unique()}


def worst_cell(changes: pd.DataFrame) -> tuple[str, int]:
    """``(method, K)`` of the largest loss in a :func:`subgroup_changes` table."""
    return changes.stack().idxmin()


WORST_GROUP_COLUMNS = ["method", "fraction_pruned", "accuracy", "std", "seeds", "vs_full_points"]


def worst_group_table(df: pd.DataFrame) -> tuple[pd.DataFrame, tuple[float, float, int]]:
    """``(per (method, fraction > 0): worst-group accuracy over seeds and its change against full data
    in points, full data's (mean, std, n))`` from the ``worst_group_accuracy`` column."""
    full_w = full_data_rows(df)["worst_group_accuracy"]
    rows = []
    for m in method_order(df["method"].unique()):
        for f in sorted(df.loc[(df["method"] == m) & (df["fraction"] > 0), "fraction"].unique()):
            w = df[(df["method"] == m) & (df["fraction"] == f)]["worst_group_accuracy"]
            mean, std, n = seed_stats(w)
            rows.append((m, f, mean, std, n, 100 * (w.mean() - full_w.mean())))
    return pd.DataFrame(rows, columns=WORST_GROUP_COLUMNS), seed_stats(full_w)


def _class_columns(df: pd.DataFrame) -> list[str]:
    cols = [c for c in map(str, df.columns) if _CLASS_COLUMN.match(c)]
    if not cols:
        raise DataDietError(f"results has no class_<k>_accuracy columns; it has {list(df.columns)}")
    return sorted(cols, key=lambda c: int(_CLASS_COLUMN.match(c).group(1)))


def _match_fraction(available: list[float], fraction) -> float:
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise DataDietError(f"fraction must be a number, got {fraction!r}") from None
    match = [a for a in available if np.isclose(a, f, rtol=0, atol=1e-6)]
    if not match:
        raise DataDietError(
            f"fraction {fraction!r} is not in results; available fractions: {', '.join(f'{a:g}' for a in available) or 'none'}"
        )
    return match[0]


CLASS_CHANGE_COLUMNS = [
    "method",
    "fraction",
    "class",
    "change",
    "change_min",
    "change_max",
    "seeds",
    "overall_change",
    "full_accuracy",
    "full_runs",
]


def class_changes(results: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """The bars of :func:`datadiet.plots.per_class_change`: per method (display order) and class K, the
    change of the class's accuracy at ``fraction`` pruned against full data, in points, per seed against
    the full-data mean: ``change`` (mean over seeds), ``change_min``, ``change_max``; ``seeds``;
    ``overall_change`` (test accuracy, points); ``full_accuracy`` (in [0, 1]) and ``full_runs`` of the
    full data. Raises :class:`DataDietError` listing the available fractions if ``fraction`` was not
    run, or if there are no full-data rows or class columns."""
    df = check_results(results)
    cols = _class_columns(df)
    ks = [int(_CLASS_COLUMN.match(c).group(1)) for c in cols]
    full, pruned = split(df)
    f = _match_fraction(sorted(pruned["fraction"].unique()), fraction)
    require_full(full, "per_class_change")
    full_class = full[cols].astype(float).mean().to_numpy()
    full_acc = float(full["test_accuracy"].mean())
    at = pruned[pruned["fraction"] == f]
    rows = []
    for m in method_order(at["method"].unique()):
        sub = at[at["method"] == m]
        delta = (sub[cols].astype(float).to_numpy() - full_class) * 100  # (seeds, K)
        mean, lo, hi = np.nanmean(delta, axis=0), np.nanmin(delta, axis=0), np.nanmax(delta, axis=0)
        overall = (float(sub["test_accuracy"].mean()) - full_acc) * 100
        rows += [(m, f, k, mean[i], lo[i], hi[i], len(sub), overall, full_acc, len(full)) for i, k in enumerate(ks)]
    return pd.DataFrame(rows, columns=CLASS_CHANGE_COLUMNS)

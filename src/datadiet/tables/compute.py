"""Compute tables of a sweep: examples processed, FLOPs against one full-data training, the reuses
after which scoring pays for itself, and the accuracy-vs-FLOPs Pareto front."""

from __future__ import annotations

import math

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
    split,
)

FLOPS_COLUMNS = ("flops_vs_full", "train_flops", "scoring_flops")
COST_COLUMNS = ("scoring_examples", "train_examples", "scoring_seconds", "train_seconds")
EPS = 1e-9  # float slack: 0.6 / (1 - 0.7) is 1.9999999999999996, and it means 2


def compute_points(results: pd.DataFrame) -> pd.DataFrame:
    """The points of :func:`datadiet.plots.compute_dividend`: the full-data point first (method ``"full"``,
    ``compute`` 1, ``n`` its runs), then one row per (method, fraction > 0) in display order by fraction.

    ``compute`` = (scoring_examples + train_examples), mean over seeds, divided by the full-data runs'
    mean ``train_examples``; ``accuracy`` the mean test accuracy over seeds (in [0, 1]).
    """
    df = check_results(results, need=("scoring_examples", "train_examples"))
    full, pruned = split(df)
    require_full(full, "compute_dividend")
    full_train = float(pd.to_numeric(full["train_examples"], errors="coerce").mean())
    if not np.isfinite(full_train) or full_train <= 0:
        raise DataDietError(f"full-data train_examples must be a positive number, got {full_train}")
    full_point = {
        "method": FULL_METHOD,
        "fraction": 0.0,
        "compute": 1.0,
        "accuracy": float(full["test_accuracy"].mean()),
    }
    pruned = pruned.copy()
    scoring = pd.to_numeric(pruned["scoring_examples"], errors="coerce").fillna(0.0)
    train = pd.to_numeric(pruned["train_examples"], errors="coerce")
    if train.isna().any():
        raise DataDietError(f"results['train_examples'] must be numbers, got {int(train.isna().sum())} missing")
    pruned["compute"] = (scoring + train) / full_train
    agg = (
        pruned.groupby(["method", "fraction"])
        .agg(compute=("compute", "mean"), accuracy=("test_accuracy", "mean"), n=("test_accuracy", "size"))
        .reset_index()
    )
    order = {m: i for i, m in enumerate(method_order(agg["method"].unique()))}
    agg = agg.assign(rank=agg["method"].map(order)).sort_values(["rank", "fraction"], kind="stable")
    points = pd.DataFrame([{**full_point, "n": len(full)}], columns=["method", "fraction", "compute", "accuracy", "n"])
    return pd.concat([points, agg[points.columns]], ignore_index=True) if len(agg) else points


def pareto_front(points) -> np.ndarray:
    """Which ``(cost, accuracy)`` points are on the Pareto front (lower cost and higher accuracy are better).

    ``points`` is an ``(n, 2)`` array-like. A point is on the front when no other point has lower
    or equal cost AND higher or equal accuracy while being strictly better in one of them, so equal
    points do not dominate each other (both stay on the front). Points with a NaN coordinate are
    never on the front and dominate nothing. Returns a boolean array of length ``n``.
    """
    p = np.asarray(points, dtype=float)
    if p.size == 0:
        return np.zeros(0, dtype=bool)
    if p.ndim != 2 or p.shape[1] != 2:
        raise DataDietError(f"points must be an (n, 2) array of (cost, accuracy), got shape {p.shape}")
    ok = np.all(np.isfinite(p), axis=1)
    cost, acc = p[:, 0], p[:, 1]
    front = ok.copy()
    for i in np.flatnonzero(ok):
        other = ok & (cost <= cost[i]) & (acc >= acc[i]) & ((cost < cost[i]) | (acc > acc[i]))
        front[i] = not other.any()
    return front


def _flops_point(method: str, fraction: float, flops: float, s: dict) -> dict:
    return {
        "method": method,
        "fraction": fraction,
        "flops_vs_full": flops,
        "accuracy": s["mean"],
        "accuracy_std": s["std"],
        "n": s["n"],
    }


def flops_points(results: pd.DataFrame) -> pd.DataFrame:
    """The points of :func:`datadiet.plots.accuracy_vs_flops`: one row per (method, fraction > 0), plus full data.

    Columns ``method`` (``"full"`` for the full-data point), ``fraction``, ``flops_vs_full`` (mean
    over seeds of total FLOPs, scoring included, relative to one full-data training run; exactly 1
    for full data), ``accuracy`` and ``accuracy_std`` (mean and sample std over seeds, in [0, 1];
    std 0 for one seed), ``n`` (seeds) and ``pareto`` (:func:`pareto_front` over all these points,
    full data included). Pruned rows without a finite ``flops_vs_full`` (older tables) are left
    out; full-data rows (fraction 0, once per seed) are required.
    """
    df = check_results(results, need=("flops_vs_full",))
    full, pruned = split(df)
    require_full(full, "flops_points")
    flops = pd.to_numeric(pruned["flops_vs_full"], errors="coerce")
    pruned = pruned.assign(flops_vs_full=flops)[np.isfinite(flops.to_numpy(dtype=float))]
    rows = [_flops_point(FULL_METHOD, 0.0, 1.0, point_stats(full["test_accuracy"]))]
    order = {m: i for i, m in enumerate(method_order(pruned["method"].unique()))}
    for (m, f), g in sorted(pruned.groupby(["method", "fraction"]), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        rows.append(_flops_point(m, float(f), float(g["flops_vs_full"].mean()), point_stats(g["test_accuracy"])))
    out = pd.DataFrame(rows, columns=["method", "fraction", "flops_vs_full", "accuracy", "accuracy_std", "n"])
    out["pareto"] = pareto_front(out[["flops_vs_full", "accuracy"]].to_numpy())
    return out


def pruned_flops_known(results: pd.DataFrame) -> bool:
    """Whether some pruned row has a ``flops_vs_full`` value (older tables have none)."""
    return (
        "flops_vs_full" in results.columns
        and pd.to_numeric(results.loc[results["fraction"] > 0, "flops_vs_full"], errors="coerce").notna().any()
    )


def reuses_to_pay_back(scoring: float, train: float) -> float:
    """How many trainings on a pruned set it takes for its scoring to have paid for itself.

    ``scoring`` (S) is the cost of scoring and ``train`` (T) that of one training on the pruned set,
    both relative to one full-data training run. The answer is the smallest integer R >= 1 with
    S + R·T <= R (scoring plus R pruned trainings cost no more FLOPs than R full-data trainings),
    i.e. ``R = max(1, ceil(S / (1 - T)))``: 1 when S == 0 (no scoring: pays at once, as dynamic
    pruning does whenever it saves compute). When T >= 1 each reuse saves nothing, so it never pays
    back, even without scoring: ``inf``. Returned as a float (an integer value, or ``inf``).
    """
    s, t = float(scoring), float(train)
    if not (np.isfinite(s) and np.isfinite(t)) or s < 0 or t < 0:
        raise DataDietError(f"scoring and train costs must be finite and >= 0, got {scoring!r}, {train!r}")
    if t >= 1 - EPS:
        return math.inf
    return float(max(1, math.ceil(s / (1 - t) - EPS)))


AMORTISATION_COLUMNS = [
    "method",
    "fraction_pruned",
    "seeds",
    "flops_vs_full",
    "scoring_vs_full",
    "train_vs_full",
    "accuracy",
    "vs_full_points",
    "full_seeds",
    "reuses_to_pay_back",
    "pareto",
]


def amortisation(results: pd.DataFrame) -> pd.DataFrame:
    """Per (method, fraction > 0): FLOPs relative to one full-data training, the accuracy change, and
    the number of reuses of the pruned set after which its scoring has paid for itself.

    Costs are relative to one full-data training run: each row's ``flops_vs_full`` is split into
    scoring and training by its share ``scoring_flops / (train_flops + scoring_flops)``, then
    averaged over seeds: ``scoring_vs_full`` (S), ``train_vs_full`` (T, one pruned training),
    ``flops_vs_full`` (S + T). ``reuses_to_pay_back`` is the smallest integer R >= 1 such that
    scoring + R pruned trainings cost no more than R full-data trainings, R = ceil(S / (1 - T));
    1 when S == 0 (random and dynamic pruning: pays at once); ``inf`` ("never") when T >= 1, as
    under an equal-steps budget (:func:`reuses_to_pay_back`). ``accuracy`` is the mean test
    accuracy over ``seeds`` seeds (in [0, 1]); ``vs_full_points`` its difference to the full-data
    mean in percentage points (``full_seeds`` seeds). ``pareto``: on the accuracy-vs-FLOPs Pareto
    front (:func:`flops_points`, full data included). Pruned rows without finite FLOPs (older
    tables) are left out; needs the columns of :data:`FLOPS_COLUMNS` and full-data rows.
    """
    if not isinstance(results, pd.DataFrame):
        raise DataDietError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    missing = [c for c in FLOPS_COLUMNS if c not in results.columns]
    if missing:
        raise DataDietError(f"results is missing column(s) {missing} needed for amortisation")
    pts = flops_points(results)
    full = pts.iloc[0]
    df = normalise(results)
    df = df[df["fraction"] > 0]
    fvf, tr, sc = (pd.to_numeric(df[c], errors="coerce").astype(float) for c in FLOPS_COLUMNS)
    total = tr + sc
    share = (sc / total.where(total > 0)).fillna(0.0)
    df = df.assign(scoring_vs_full=fvf * share, train_vs_full=fvf * (1 - share))[np.isfinite(fvf)]
    costs = df.groupby(["method", "fraction"])[["scoring_vs_full", "train_vs_full"]].mean()
    rows = []
    for _, p in pts.iloc[1:].iterrows():
        s, t = costs.loc[(p["method"], p["fraction"])]
        rows.append(
            {
                "method": p["method"],
                "fraction_pruned": float(p["fraction"]),
                "seeds": int(p["n"]),
                "flops_vs_full": float(p["flops_vs_full"]),
                "scoring_vs_full": float(s),
                "train_vs_full": float(t),
                "accuracy": float(p["accuracy"]),
                "vs_full_points": 100 * (float(p["accuracy"]) - float(full["accuracy"])),
                "full_seeds": int(full["n"]),
                "reuses_to_pay_back": reuses_to_pay_back(s, t),
                "pareto": bool(p["pareto"]),
            }
        )
    return pd.DataFrame(rows, columns=AMORTISATION_COLUMNS)


def amortisation_ready(results: pd.DataFrame) -> bool:
    """Whether :func:`amortisation` has something to say: the FLOPs columns, full-data rows, and some
    pruned row with FLOPs."""
    if any(c not in results.columns for c in FLOPS_COLUMNS):
        return False
    df = normalise(results)
    return bool(len(full_data_rows(df))) and pruned_flops_known(df)


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean cost per training run of each (method, fraction > 0) in display order: the columns of
    :data:`COST_COLUMNS`, ``total_vs_full`` (examples processed, scoring + training, over the full-data
    runs' mean training examples) and ``full_train_seconds`` (the full-data runs' mean)."""
    cost = df.groupby(["method", "fraction"])[list(COST_COLUMNS)].mean()
    full_rows = full_data_rows(df)
    full_ex, full_s = full_rows["train_examples"].mean(), full_rows["train_seconds"].mean()
    order = {m: i for i, m in enumerate(method_order(cost.index.get_level_values(0)))}
    rows = []
    for (m, f), r in sorted(cost.iterrows(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        if f == 0:
            continue
        total = (r["scoring_examples"] + r["train_examples"]) / full_ex
        rows.append({"method": m, "fraction": f, **r.to_dict(), "total_vs_full": total, "full_train_seconds": full_s})
    return pd.DataFrame(rows, columns=["method", "fraction", *COST_COLUMNS, "total_vs_full", "full_train_seconds"])


SHORTFALL_COLUMNS = ["method", "fraction", "saved_fraction", "capped_epochs", "pruning_epochs", "runs"]


def pruning_shortfalls(results: pd.DataFrame) -> pd.DataFrame:
    """The dynamic cells that saved less training compute than they asked for because InfoBatch's cap
    on r cut some pruning epochs: one row per (method, fraction) with ``saved_fraction`` (mean over
    its runs of the compute really saved), ``capped_epochs`` and ``pruning_epochs`` (summed over its
    ``runs``), in display order. Empty when no row has ``capped_epochs`` (older tables, no InfoBatch)
    or none was capped below its fraction."""
    if not {"capped_epochs", "pruning_epochs", "saved_fraction"} <= set(results.columns):
        return pd.DataFrame(columns=SHORTFALL_COLUMNS)
    df = normalise(results)
    df = df[(df["fraction"] > 0) & pd.to_numeric(df["capped_epochs"], errors="coerce").notna()]
    rows = []
    for (m, f), g in df.groupby(["method", "fraction"]):
        saved, capped = float(g["saved_fraction"].mean()), int(g["capped_epochs"].sum())
        if capped and saved < f - EPS:
            rows.append([m, float(f), saved, capped, int(g["pruning_epochs"].sum()), len(g)])
    out = pd.DataFrame(rows, columns=SHORTFALL_COLUMNS)
    order = {m: i for i, m in enumerate(method_order(out["method"].unique()))}
    return (
        out.assign(_r=out["method"].map(order))
        .sort_values(["_r", "fraction"])
        .drop(columns="_r")
        .reset_index(drop=True)
    )

"""The claims a sweep's report states, judged by :mod:`datadiet.stats` on the per-seed accuracies.

For every pruned cell (method, fraction > 0) of a sweep:

* **matches full data**: ``equivalent`` within ``±margin`` points of the full-data runs;
* **beats random** (every method but random, where random pruning ran at the same fraction): ``better``;
* **on the Pareto front** (:func:`datadiet.tables.compute.flops_points`, front drawn on the means):
  each front point but the cheapest claims to be ``better`` than the next cheaper front point, i.e.
  that its extra compute buys accuracy.

The full-data run, the random cells and every pruned cell train from the same training seeds, so each
claim is paired by seed (on the seeds both arms ran); arms that share fewer than two seeds but have two
each are compared unpaired (Welch). All the claims of one sweep form one family for Holm's correction.
Differences are in percentage points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datadiet.stats import DEFAULT_ALPHA, DEFAULT_MARGIN, Claim, Verdict, judge, paired_differences
from datadiet.tables.compute import amortisation_ready, flops_points
from datadiet.tables.results import FULL_METHOD, full_data_rows, method_order, normalise

VERDICT_COLUMNS = [
    "claim",
    "kind",
    "subject",
    "method",
    "fraction",
    "reference",
    "verdict",
    "estimate",
    "low",
    "high",
    "confidence",
    "bootstrap_low",
    "bootstrap_high",
    "n",
    "design",
    "margin",
    "p_establish",
    "p_establish_adjusted",
    "p_refute",
    "p_refute_adjusted",
    "seeds_needed",
    "settles_as",
]


def seed_accuracies(results: pd.DataFrame) -> dict[tuple[str, float], dict[int, float]]:
    """``{(method, fraction): {seed: test accuracy in points}}``; the full-data runs (once per seed)
    under ``("full", 0.0)``. Rows without a ``seed`` column are numbered in order."""
    df = normalise(results)
    if "seed" not in df.columns:
        df = df.assign(seed=df.groupby(["method", "fraction"]).cumcount())
    out = {(FULL_METHOD, 0.0): _by_seed(full_data_rows(df))}
    pruned = df[df["fraction"] > 0]
    for (m, f), g in pruned.groupby(["method", "fraction"]):
        out[(str(m), float(f))] = _by_seed(g)
    return out


def _by_seed(rows: pd.DataFrame) -> dict[int, float]:
    return {int(s): 100 * float(a) for s, a in zip(rows["seed"], rows["test_accuracy"])}


def _claim(text: str, kind: str, a: dict, b: dict, margin: float, extra: dict) -> Claim:
    d, seeds = paired_differences(a, b)
    if len(seeds) < 2 and len(a) >= 2 and len(b) >= 2:
        return Claim(text, kind, a=tuple(a.values()), b=tuple(b.values()), margin=margin, extra=extra)
    return Claim(text, kind, differences=tuple(d), margin=margin, extra=extra)


def _label(method: str, fraction: float) -> str:
    return "full data" if method == FULL_METHOD else f"{method} at {100 * fraction:g}% pruned"


def sweep_claims(results: pd.DataFrame, *, margin: float = DEFAULT_MARGIN) -> list[Claim]:
    """The claims of a sweep's report (see the module docstring), in report order."""
    acc = seed_accuracies(results)
    full = acc[(FULL_METHOD, 0.0)]
    claims = []
    cells = [k for k in acc if k[1] > 0]
    order = {m: i for i, m in enumerate(method_order({m for m, _ in cells}))}
    for m, f in sorted(cells, key=lambda k: (order[k[0]], k[1])):
        base = {"subject": "cell", "method": m, "fraction": f}
        if full:
            text = f"{_label(m, f)} matches full data within {margin:g} points"
            claims.append(_claim(text, "equivalent", acc[(m, f)], full, margin, {**base, "reference": FULL_METHOD}))
        if m != "random" and ("random", f) in acc:
            text = f"{_label(m, f)} beats random pruning"
            claims.append(
                _claim(text, "better", acc[(m, f)], acc[("random", f)], margin, {**base, "reference": "random"})
            )
    return claims + pareto_claims(results, acc, margin=margin)


def pareto_claims(results: pd.DataFrame, acc: dict, *, margin: float = DEFAULT_MARGIN) -> list[Claim]:
    """Per point on the means' accuracy-vs-FLOPs front but the cheapest: it beats the next cheaper one."""
    if not amortisation_ready(results):
        return []
    pts = flops_points(results)
    front = pts[pts["pareto"]].sort_values(["flops_vs_full", "accuracy"]).reset_index(drop=True)
    claims = []
    for i in range(1, len(front)):
        p, q = front.iloc[i], front.iloc[i - 1]
        a, b = acc.get((p["method"], float(p["fraction"]))), acc.get((q["method"], float(q["fraction"])))
        if a is None or b is None:
            continue
        text = f"{_label(p['method'], p['fraction'])} beats the next cheaper point on the front, {_label(q['method'], q['fraction'])}"
        extra = {"subject": "pareto", "method": p["method"], "fraction": float(p["fraction"])}
        claims.append(_claim(text, "better", a, b, margin, {**extra, "reference": _label(q["method"], q["fraction"])}))
    return claims


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per verdict: the columns of :data:`VERDICT_COLUMNS`, then the claims' extra keys."""
    rows = []
    for v in verdicts:
        d = v.as_dict()
        lo, hi = d.pop("interval")
        blo, bhi = d.pop("bootstrap_interval")
        rows.append({**d, "low": lo, "high": hi, "bootstrap_low": blo, "bootstrap_high": bhi})
    extra = [k for r in rows for k in r if k not in VERDICT_COLUMNS]
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS + list(dict.fromkeys(extra)))


def sweep_verdicts(
    results: pd.DataFrame, *, margin: float = DEFAULT_MARGIN, alpha: float = DEFAULT_ALPHA
) -> pd.DataFrame:
    """The verdicts on a sweep's claims (:func:`sweep_claims`, Holm-adjusted together) as a table."""
    return verdict_table(judge(sweep_claims(results, margin=margin), alpha=alpha))


def verdict_records(verdicts: pd.DataFrame) -> list[dict]:
    """The table as JSON-ready dicts for ``summary.json`` (NaN as None)."""
    out = []
    for r in verdicts.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()})
    return out


def _verdict_row(verdicts: pd.DataFrame, subject: str, method: str, fraction: float, **equal) -> pd.Series | None:
    """The first verdict row of ``subject`` for (method, fraction) whose other columns equal ``equal``."""
    if not len(verdicts):
        return None
    mask = (
        (verdicts["subject"] == subject)
        & (verdicts["method"] == method)
        & np.isclose(verdicts["fraction"].astype(float), float(fraction), rtol=0, atol=1e-6)
    )
    for column, value in equal.items():
        mask &= verdicts[column] == value
    at = verdicts[mask]
    return at.iloc[0] if len(at) else None


def cell_verdict(verdicts: pd.DataFrame, method: str, fraction: float, reference: str) -> pd.Series | None:
    """The verdict row of a cell's claim against ``reference`` (``"full"`` or ``"random"``), or None."""
    return _verdict_row(verdicts, "cell", method, fraction, reference=reference)


def pareto_verdict(verdicts: pd.DataFrame, method: str, fraction: float) -> pd.Series | None:
    """The Pareto claim of a front point, or None (the cheapest point on the front has none)."""
    return _verdict_row(verdicts, "pareto", method, fraction)


__all__ = [
    "VERDICT_COLUMNS",
    "cell_verdict",
    "pareto_claims",
    "pareto_verdict",
    "seed_accuracies",
    "sweep_claims",
    "sweep_verdicts",
    "verdict_records",
    "verdict_table",
]

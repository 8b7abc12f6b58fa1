"""Verdicts in words: a claim, what the seeds establish about it, the interval, and the seeds that would settle it.

Rows come from :func:`datadiet.tables.sweep_verdicts` (or any :data:`datadiet.tables.VERDICT_COLUMNS`
table); nothing here computes a statistic.
"""

from __future__ import annotations

import math

import pandas as pd

from datadiet.stats import DEFAULT_ALPHA, DEFAULT_MARGIN, ESTABLISHED, MIN_SEEDS, NOT_ESTABLISHED, REFUTED


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def interval_text(row) -> str:
    """``"+0.04 [-0.57, +0.65]"``; without bounds (one seed) ``"+0.04 [no interval]"``."""
    est, lo, hi = _num(row["estimate"]), _num(row["low"]), _num(row["high"])
    if est is None:
        return ""
    if lo is None or hi is None:
        return f"{est:+.2f} [no interval]"
    return f"{est:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def seeds_text(row) -> str:
    """What would settle a claim left open: ``"~12 seeds"``; ``""`` when settled."""
    if row["verdict"] != NOT_ESTABLISHED:
        return ""
    need = _num(row.get("seeds_needed"))
    n = int(row["n"]) if _num(row["n"]) is not None else 0
    if need is not None:
        verb = {"refuted": "refute", "established": "establish"}.get(row.get("settles_as"), "settle")
        return f"~{int(need)} seeds to {verb}"
    if n < 2:
        return "needs ≥ 2 seeds for an interval"
    return "> 1000 seeds"


def verdict_word(row) -> str:
    """``established`` / ``refuted`` / ``not established`` (with the reason when fewer than 3 seeds)."""
    v = row["verdict"]
    if v == NOT_ESTABLISHED and _num(row["n"]) is not None and int(row["n"]) < MIN_SEEDS:
        return f"not established (n={int(row['n'])} < {MIN_SEEDS})"
    return v


def verdict_cell(row) -> str:
    """A table cell: ``"+0.04 [-0.57, +0.65] not established, ~12 seeds"``."""
    if row is None:
        return ""
    extra = seeds_text(row)
    return f"{interval_text(row)} {verdict_word(row)}" + (f", {extra}" if extra else "")


def verdict_sentence(row) -> str:
    """One sentence: the claim, its verdict, the interval and n, and what would settle it."""
    conf = _num(row.get("confidence")) or 1 - 2 * DEFAULT_ALPHA
    design = "paired seeds" if row.get("design") == "paired" else "seeds per arm (unpaired, Welch)"
    head = f"{row['claim']}: **{verdict_word(row)}**"
    unit = row.get("unit") if isinstance(row.get("unit"), str) else "points"
    body = f"({interval_text(row)} {unit}, {conf:.0%} CI, n = {int(row['n'])} {design}"
    extra = seeds_text(row)
    return f"{head} {body}" + (f"; {extra} it at this spread)." if extra.startswith("~") else ").")


def correlation_sentence(row) -> str:
    """One sentence for a correlation verdict (:class:`datadiet.stats.Correlation`'s record)."""
    lo, hi, rho = _num(row.get("low")), _num(row.get("high")), _num(row.get("estimate"))
    conf = _num(row.get("confidence")) or 1 - 2 * DEFAULT_ALPHA
    ci = f"rho {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]" if None not in (rho, lo, hi) else "no interval"
    return f"{row['claim']}: **{row['verdict']}** (Spearman {ci}, {conf:.0%} CI, n = {int(row['n'])} points)."


def verdicts_intro(margin: float = DEFAULT_MARGIN, alpha: float = DEFAULT_ALPHA) -> str:
    return (
        f"Each claim is judged on the per-seed accuracies, paired by training seed: *established* when a one-sided "
        f"t test at α = {alpha:g} supports it after Holm's correction over this report's claims, *refuted* when the "
        f"opposite is established, else *not established*. Intervals are two-sided {1 - 2 * alpha:.0%} t intervals "
        f'of the difference in points ("matches": equivalence within ±{margin:g} points, i.e. the interval inside '
        f'±{margin:g}; "beats": the interval above 0). Fewer than {MIN_SEEDS} seeds settle nothing. *Seeds to '
        "settle*: the seeds at which the interval would establish or refute the claim if the mean and spread stayed as "
        "observed (at the level its Holm rank asks)."
    )


def verdicts_markdown(verdicts: pd.DataFrame, setup: str, *, margin: float = DEFAULT_MARGIN) -> list[str]:
    """The report's "Verdicts" section (lines; ``[]`` when there are no claims)."""
    if verdicts is None or not len(verdicts):
        return []
    counts = verdicts["verdict"].value_counts()
    tally = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in (ESTABLISHED, NOT_ESTABLISHED, REFUTED))
    lines = [
        f"## Verdicts: {setup}",
        "",
        verdicts_intro(margin),
        "",
        f"{len(verdicts)} claims: {tally}.",
        "",
        "| claim | verdict | difference (points) [90% CI, t] | bootstrap CI | n | Holm p | seeds to settle |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in verdicts.iterrows():
        blo, bhi = _num(r["bootstrap_low"]), _num(r["bootstrap_high"])
        boot = f"[{blo:+.2f}, {bhi:+.2f}]" if blo is not None and bhi is not None else ""
        p = _num(r["p_establish_adjusted"])
        lines.append(
            f"| {r['claim']} | {verdict_word(r)} | {interval_text(r)} | {boot} | {int(r['n'])} | "
            f"{'' if p is None else f'{p:.3f}'} | {seeds_text(r)} |"
        )
    return lines + [""]

"""The compute sections in markdown: examples processed and seconds, FLOPs and reuses to pay back scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.reports.setup import environment_line
from datadiet.reports.text import format_difference, pct
from datadiet.tables import (
    EPS,
    amortisation,
    amortisation_ready,
    cost_table,
    flops_points,
    is_dynamic,
    normalise,
    pruning_shortfalls,
)
from datadiet.training.dynamic import INFOBATCH_MAX_RATIO

CHEAP_FLOPS = 0.9  # "cheaper": at most this many times the FLOPs of one full-data training
NEAR_POINTS = 0.3  # "as good": within this many percentage points of full-data accuracy


def _reuses_text(r: float) -> str:
    return "never" if not np.isfinite(r) else f"{int(r)}"


def _point_text(r) -> str:
    return f"{pct(r['fraction_pruned'])} pruned: {r['flops_vs_full']:.2f}x FLOPs, {r['vs_full_points']:+.2f} points"


def cheap_and_close_sentence(amort: pd.DataFrame) -> str:
    """One sentence from an :func:`datadiet.tables.amortisation` table: which methods reach <= 0.9x the
    FLOPs of full-data training within 0.3 points of its accuracy, or that none does and which point
    comes closest (the smallest accuracy drop among points at <= 0.9x; the cheapest point if none is)."""
    cheap = amort[amort["flops_vs_full"] <= CHEAP_FLOPS + EPS]
    good = cheap[cheap["vs_full_points"] >= -NEAR_POINTS - EPS]
    what = f"≤ {CHEAP_FLOPS:g}x the FLOPs of one full-data training (scoring included)"
    near = f"within {NEAR_POINTS:g} points of full-data accuracy"
    if len(good):
        said = [
            f"**{m}** (" + "; ".join(_point_text(r) for _, r in g.iterrows()) + ")"
            for m, g in good.groupby("method", sort=False)
        ]
        return f"At {what}, {near}: {', '.join(said)}."
    if len(cheap):
        best = cheap.loc[cheap["vs_full_points"].idxmax()]
        return f"No method reaches {what} {near}; the closest is **{best['method']}** at {_point_text(best)}."
    if len(amort) == 0:
        return f"No pruned point has FLOPs to compare, so no method reaches {what} {near}."
    best = amort.loc[amort["flops_vs_full"].idxmin()]
    return (
        f"No point costs {what}, so no method reaches it {near}; the cheapest is **{best['method']}** at "
        f"{_point_text(best)}."
    )


def _amortisation_intro(dynamic: list[str], figure: str | None) -> str:
    return (
        "FLOPs are relative to one full-data training run (mean over training seeds), scoring counted in full on "
        "every cell. A pruned set is reused (hyperparameter search, other architectures): *reuses to pay back* is "
        "the smallest R ≥ 1 for which scoring + R trainings on the pruned set cost no more FLOPs than R full-data "
        "trainings, R = ⌈S / (1 − T)⌉ with S = scoring and T = one pruned training; never when T ≥ 1. *Pareto*: "
        "no other point (full data included) is as cheap and as accurate, and better in one"
        + (f" (ringed in [the accuracy-vs-FLOPs figure]({Path(figure).name}))" if figure else "")
        + ". Accuracy changes are differences of means over training seeds."
        + (
            f" {', '.join(dynamic)}: dynamic pruning, no scoring; *pruned* is the training compute saved in expectation."
            if dynamic
            else ""
        )
    )


def amortisation_markdown(results: pd.DataFrame, setup: str, figure: str | None = None) -> list[str]:
    """The report's "Compute and amortisation" section (lines), or ``[]`` when the results have no
    FLOPs columns (older tables), no full-data rows or no pruned rows with FLOPs. ``figure``: the
    accuracy-vs-FLOPs figure's file, linked from the text when given."""
    if not amortisation_ready(results):
        return []
    df = normalise(results)
    amort = amortisation(df)
    full = flops_points(df).iloc[0]
    dynamic = [m for m in amort["method"].unique() if is_dynamic(m)]
    lines = [
        f"## Compute and amortisation (FLOPs, scoring included): {setup}",
        "",
        _amortisation_intro(dynamic, figure),
        "",
        cheap_and_close_sentence(amort),
        "",
        "| method | pruned | FLOPs vs full (scoring + training) | accuracy vs full (points) | reuses to pay back | Pareto |",
        "|---|---|---|---|---|---|",
        f"| full data | 0% | 1.00x (0.00 + 1.00) | 0 (reference, n={int(full['n'])}) | – | "
        f"{'yes' if full['pareto'] else 'no'} |",
    ]
    for _, r in amort.iterrows():
        lines.append(
            f"| {r['method']} | {pct(r['fraction_pruned'])} | {r['flops_vs_full']:.2f}x "
            f"({r['scoring_vs_full']:.2f} + {r['train_vs_full']:.2f}) | "
            f"{format_difference(r['vs_full_points'], r['seeds'], r['full_seeds'])} | "
            f"{_reuses_text(r['reuses_to_pay_back'])} | {'yes' if r['pareto'] else 'no'} |"
        )
    return lines + [""]


def cost_markdown(results: pd.DataFrame, setup: str) -> list[str]:
    """The report's "Compute" section: examples processed and seconds per training run (lines)."""
    env = environment_line(results)
    lines = [
        f"## Compute (mean per training run; scoring counted once per method): {setup}",
        "",
        "Seconds are wall-clock on the machine that ran the sweep, and rise when other work shares its cores; "
        "examples processed do not." + (f" {env}" if env else ""),
        "",
        "| method | pruned | scoring examples | training examples | total vs full | seconds (score + train) |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in cost_table(results).iterrows():
        lines.append(
            f"| {r['method']} | {pct(r['fraction'])} | {r['scoring_examples']:,.0f} | {r['train_examples']:,.0f} | "
            f"{r['total_vs_full']:.2f}x | {r['scoring_seconds']:.0f} + {r['train_seconds']:.0f} "
            f"(full: {r['full_train_seconds']:.0f}) |"
        )
    return lines + [""]


def shortfall_lines(results: pd.DataFrame) -> list[str]:
    """One line per dynamic cell that saved less than its fraction because r was capped
    (:func:`datadiet.tables.pruning_shortfalls`): ``infobatch at 40% requested saved 31.2% (r capped at
    0.9 in 2 of 2 pruning epochs)``, the saving a mean over the runs when there are several; ``[]`` if none."""
    rows = pruning_shortfalls(results)
    lines = []
    for _, r in rows.iterrows():
        runs = f"; saving: mean of {int(r['runs'])} runs" if r["runs"] > 1 else ""
        lines.append(
            f"- {r['method']} at {pct(r['fraction'])} requested saved {100 * r['saved_fraction']:.1f}% "
            f"(r capped at {INFOBATCH_MAX_RATIO:g} in {int(r['capped_epochs'])} of {int(r['pruning_epochs'])} "
            f"pruning epochs{runs})"
        )
    if not lines:
        return []
    return [
        "**Dynamic pruning saved less than requested** (its FLOPs columns count what it really visited):",
        "",
        *lines,
        "",
    ]

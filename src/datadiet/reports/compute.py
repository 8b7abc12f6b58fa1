"""The compute sections in markdown: examples processed and seconds, FLOPs and reuses to pay back scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.reports.setup import environment_line
from datadiet.reports.text import pct
from datadiet.reports.verdicts import interval_text, seeds_text, verdict_cell, verdict_word
from datadiet.stats import DEFAULT_MARGIN, ESTABLISHED
from datadiet.tables import (
    EPS,
    amortisation,
    amortisation_ready,
    cell_verdict,
    cost_table,
    flops_points,
    is_dynamic,
    normalise,
    pareto_verdict,
    pruning_shortfalls,
)
from datadiet.training.dynamic import INFOBATCH_MAX_RATIO

CHEAP_FLOPS = 0.9  # "cheaper": at most this many times the FLOPs of one full-data training


def _reuses_text(r: float) -> str:
    return "never" if not np.isfinite(r) else f"{int(r)}"


def _point_text(r, verdict=None) -> str:
    diff = interval_text(verdict) if verdict is not None else f"{r['vs_full_points']:+.2f}"
    return f"{pct(r['fraction_pruned'])} pruned: {r['flops_vs_full']:.2f}x FLOPs, {diff} points"


def _open_text(r, verdict) -> str:
    extra = seeds_text(verdict) if verdict is not None else ""
    word = verdict_word(verdict) if verdict is not None else "not established (no per-seed results)"
    return f"**{r['method']}** at {_point_text(r, verdict)}, {word}" + (f", {extra}" if extra else "")


def cheap_and_close_sentence(amort: pd.DataFrame, verdicts: pd.DataFrame, *, margin: float = DEFAULT_MARGIN) -> str:
    """One sentence from an :func:`datadiet.tables.amortisation` table and the sweep's verdicts
    (:func:`datadiet.tables.sweep_verdicts`): which methods at <= 0.9x the FLOPs of full-data training
    are *established* to match its accuracy within ±``margin`` points (90% interval inside the margin),
    or that none is, with the nearest cheap point, its interval and the seeds that would settle it (the
    cheapest point if none costs <= 0.9x). Means alone decide nothing here."""
    cheap = amort[amort["flops_vs_full"] <= CHEAP_FLOPS + EPS]
    what = f"≤ {CHEAP_FLOPS:g}x the FLOPs of one full-data training (scoring included)"
    near = f"within ±{margin:g} points of full-data accuracy"

    def verdict(r):
        return cell_verdict(verdicts, r["method"], r["fraction_pruned"], "full")

    good = [
        (r, verdict(r)) for _, r in cheap.iterrows() if (v := verdict(r)) is not None and v["verdict"] == ESTABLISHED
    ]
    if good:
        said = {}
        for r, v in good:
            said.setdefault(r["method"], []).append(_point_text(r, v))
        parts = [f"**{m}** (" + "; ".join(t) + ")" for m, t in said.items()]
        return f"At {what}, established {near}: {', '.join(parts)}."
    if len(cheap):
        best = cheap.loc[cheap["vs_full_points"].idxmax()]
        return f"No method at {what} is established {near}; the nearest is {_open_text(best, verdict(best))}."
    if len(amort) == 0:
        return f"No pruned point has FLOPs to compare, so no method at {what} is established {near}."
    best = amort.loc[amort["flops_vs_full"].idxmin()]
    return f"No point costs {what}; the cheapest is {_open_text(best, verdict(best))}."


def _pareto_text(r, verdicts: pd.DataFrame) -> str:
    if not r["pareto"]:
        return "no"
    v = pareto_verdict(verdicts, r["method"], r["fraction_pruned"])
    if v is None:
        return "yes"
    if v["verdict"] == ESTABLISHED:
        return f"yes (beats {v['reference']}: {interval_text(v)})"
    return f"on the means only (gain over {v['reference']} {verdict_word(v)}: {interval_text(v)})"


def _amortisation_intro(dynamic: list[str], figure: str | None) -> str:
    return (
        "FLOPs are relative to one full-data training run (mean over training seeds), scoring counted in full on "
        "every cell. A pruned set is reused (hyperparameter search, other architectures): *reuses to pay back* is "
        "the smallest R ≥ 1 for which scoring + R trainings on the pruned set cost no more FLOPs than R full-data "
        "trainings, R = ⌈S / (1 − T)⌉ with S = scoring and T = one pruned training; never when T ≥ 1. *Pareto*: "
        "no other point (full data included) is as cheap and as accurate, and better in one"
        + (f" (ringed in [the accuracy-vs-FLOPs figure]({Path(figure).name}))" if figure else "")
        + " on the means; a front point's extra compute buys accuracy only where its gain over the next cheaper "
        "front point is established. Accuracy changes are paired by training seed, with their 90% intervals and "
        "whether the point matches full data (see Verdicts)."
        + (
            f" {', '.join(dynamic)}: dynamic pruning, no scoring; *pruned* is the training compute saved in expectation."
            if dynamic
            else ""
        )
    )


def amortisation_markdown(
    results: pd.DataFrame,
    setup: str,
    figure: str | None = None,
    *,
    verdicts: pd.DataFrame | None = None,
    margin: float = DEFAULT_MARGIN,
) -> list[str]:
    """The report's "Compute and amortisation" section (lines), or ``[]`` when the results have no
    FLOPs columns (older tables), no full-data rows or no pruned rows with FLOPs. ``figure``: the
    accuracy-vs-FLOPs figure's file, linked from the text when given; ``verdicts``: the sweep's
    (:func:`datadiet.tables.sweep_verdicts`; without them nothing is established)."""
    if not amortisation_ready(results):
        return []
    df = normalise(results)
    amort = amortisation(df)
    full = flops_points(df).iloc[0]
    dynamic = [m for m in amort["method"].unique() if is_dynamic(m)]
    verdicts = verdicts if verdicts is not None else pd.DataFrame()
    lines = [
        f"## Compute and amortisation (FLOPs, scoring included): {setup}",
        "",
        _amortisation_intro(dynamic, figure),
        "",
        cheap_and_close_sentence(amort, verdicts, margin=margin),
        "",
        f"| method | pruned | FLOPs vs full (scoring + training) | vs full (points) [90% CI]: matches (±{margin:g})? "
        "| reuses to pay back | Pareto |",
        "|---|---|---|---|---|---|",
        f"| full data | 0% | 1.00x (0.00 + 1.00) | 0 (reference, n={int(full['n'])}) | – | "
        f"{'yes' if full['pareto'] else 'no'} |",
    ]
    for _, r in amort.iterrows():
        lines.append(
            f"| {r['method']} | {pct(r['fraction_pruned'])} | {r['flops_vs_full']:.2f}x "
            f"({r['scoring_vs_full']:.2f} + {r['train_vs_full']:.2f}) | "
            f"{verdict_cell(cell_verdict(verdicts, r['method'], r['fraction_pruned'], 'full'))} | "
            f"{_reuses_text(r['reuses_to_pay_back'])} | {_pareto_text(r, verdicts)} |"
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

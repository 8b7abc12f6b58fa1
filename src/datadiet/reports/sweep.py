"""``report.md`` of a sweep, as text: the setup, the accuracy tables, the figures, who pays, compute,
and GraNd at initialisation against the input norm (when the sweep scored it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datadiet.reports.accuracy import accuracy_markdown, comparisons_markdown
from datadiet.reports.compute import amortisation_markdown, cost_markdown, shortfall_lines
from datadiet.reports.groups import change_lines, group_lines
from datadiet.reports.kirsch import kirsch_markdown
from datadiet.reports.setup import describe_setup, setup_bullets
from datadiet.reports.text import format_mean_std, pct
from datadiet.reports.verdicts import verdicts_markdown
from datadiet.runs import to_jsonable
from datadiet.stats import DEFAULT_MARGIN
from datadiet.tables import (
    COST_COLUMNS,
    best_on_validation,
    full_data_rows,
    middle_fraction,
    normalise,
    sweep_verdicts,
)

CAPTIONS = {
    "accuracy": "Test accuracy vs fraction pruned (the data-diet paper's Figure 1).",
    "per_class": "Per-class accuracy change against full data: does the diet hurt one class?",
    "compute": "Compute dividend: total examples processed (scoring + training) relative to full training.",
    "pareto": "Accuracy vs total FLOPs (scoring included) relative to one full-data training; "
    "ringed points and the step line are the Pareto front.",
}


def figures_markdown(figures: dict) -> list[str]:
    """The report's "Figures" section: each figure under its caption, in :data:`CAPTIONS` order (lines)."""
    if not figures:
        return []
    lines = ["## Figures", ""]
    for key in sorted(figures, key=lambda k: list(CAPTIONS).index(k) if k in CAPTIONS else len(CAPTIONS)):
        lines += [f"{CAPTIONS.get(key, key)}", "", f"![{key}]({Path(figures[key]).name})", ""]
    return lines


def report_margin(summary: dict) -> float:
    """The equivalence margin (points) the sweep's verdicts use: its config's ``margin``, else the default."""
    return float(((summary.get("config") or {}).get("margin")) or DEFAULT_MARGIN)


def _cell_name(method: str, fraction: float) -> str:
    return "full data (nothing pruned)" if fraction == 0 else f"`{method}` at {pct(fraction)} pruned"


def validation_markdown(df: pd.DataFrame, summary: dict) -> list[str]:
    """The validation accuracy's table and the (method, fraction) best on it, with that cell's test
    accuracy only reported (lines; ``[]`` without a ``val_accuracy`` column)."""
    if "val_accuracy" not in df.columns:
        return []
    best = best_on_validation(df, ("method", "fraction"))
    method, fraction = best["choice"]["method"], best["choice"]["fraction"]
    return [
        accuracy_markdown(df, summary, heading="##", column="val_accuracy"),
        f"**Best on validation: {_cell_name(method, fraction)}**, validation accuracy "
        f"{100 * best['val_accuracy']:.2f}% (n={best['n']}); its test accuracy, reported and not chosen on: "
        f"{100 * best['test_accuracy']:.2f}%.",
        "",
    ]


def report_markdown(summary: dict, results: pd.DataFrame) -> str:
    """The text of ``report.md`` for a sweep's ``summary`` and ``results``; every verdict in it comes
    from :func:`datadiet.tables.sweep_verdicts` on the per-seed accuracies."""
    summary = to_jsonable(summary)
    margin = report_margin(summary)
    setup = describe_setup(summary, results)
    df = normalise(results)
    names = list(summary.get("class_names") or [])
    full = full_data_rows(df)["test_accuracy"]
    title = (summary.get("dataset") or {}).get("name") or summary.get("folder") or "unknown dataset"
    lines = [f"# Data-diet sweep: {title}", "", f"**{setup}**", ""]
    if summary.get("command"):
        lines += ["Made by:", "", "```bash", summary["command"], "```", ""]
    lines += setup_bullets(summary, df)
    if len(full):
        lines += [f"**Full-data test accuracy (%): {format_mean_std(full)}** (mean ± std over training seeds)", ""]
    lines += [accuracy_markdown(df, summary, heading="##")]
    lines += validation_markdown(df, summary)
    verdicts = sweep_verdicts(df, margin=margin)
    lines += comparisons_markdown(df, setup, verdicts, margin=margin)
    lines += shortfall_lines(df)
    figs = summary.get("figures") or {}
    lines += figures_markdown(figs)
    target = middle_fraction(df)
    if target is not None and len(full):
        lines += change_lines(df, "class", names, target, setup, len(full))
        lines += group_lines(df, summary, target, setup, len(full))
    if len(full) and all(c in df.columns for c in COST_COLUMNS):
        lines += cost_markdown(df, setup)
    lines += amortisation_markdown(df, setup, figs.get("pareto"), verdicts=verdicts, margin=margin)
    lines += kirsch_markdown(summary, df, setup)
    lines += verdicts_markdown(verdicts, setup, margin=margin)
    return "\n".join(lines)

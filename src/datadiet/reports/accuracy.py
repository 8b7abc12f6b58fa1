"""The accuracy tables in markdown: method × fraction pruned, and against full data and random pruning."""

from __future__ import annotations

import pandas as pd

from datadiet.reports.setup import describe_setup, scoring_line
from datadiet.reports.text import format_mean_std, format_stats, pct
from datadiet.reports.verdicts import verdict_cell
from datadiet.runs import to_jsonable
from datadiet.stats import DEFAULT_MARGIN
from datadiet.tables import accuracy_cells, cell_verdict, comparisons


def accuracy_markdown(
    results: pd.DataFrame, summary: dict, *, heading: str | None = "###", column: str = "test_accuracy"
) -> str:
    """The accuracy table (method × fraction pruned, mean ± std over seeds) as markdown, under a
    heading that says the setup (``heading=None``: a bold caption line instead); ``column``
    ``"val_accuracy"``: the validation accuracy's table."""
    summary = to_jsonable(summary)
    cells = accuracy_cells(results, column)
    fracs = sorted({f for row in cells.values() for f in row})
    what = "Validation accuracy" if column == "val_accuracy" else "Test accuracy"
    title = f"{what} (%) by fraction pruned: {describe_setup(summary, results)}"
    scored = scoring_line(summary, results)
    lines = [
        f"{heading} {title}" if heading else f"**{title}**",
        "",
        "Mean ± std over training seeds (ddof=1); n = number of training seeds; 0% = full data."
        + (f" {scored[0].upper()}{scored[1:]}." if scored else ""),
        "",
        "| method | " + " | ".join(pct(f) for f in fracs) + " |",
        "|---|" + "---|" * len(fracs),
    ]
    for m, row in cells.items():
        lines.append(f"| {m} | " + " | ".join(format_mean_std(row[f]) if f in row else "" for f in fracs) + " |")
    return "\n".join(lines) + "\n"


def comparisons_markdown(
    results: pd.DataFrame, setup: str, verdicts: pd.DataFrame | None = None, *, margin: float = DEFAULT_MARGIN
) -> list[str]:
    """The report's "Against full data and random pruning" section (lines; ``[]`` without pruned cells):
    each cell's accuracy (mean ± std), and its paired difference to full data and to random pruning with
    the 90% interval and the verdict of :func:`datadiet.tables.sweep_verdicts` (``verdicts``)."""
    comp = comparisons(results)
    if not len(comp):
        return []
    v = verdicts if verdicts is not None else pd.DataFrame()
    lines = [
        f"## Against full data and random pruning (percentage points): {setup}",
        "",
        "Accuracy: mean ± std over training seeds. *vs full*: the paired difference to the full-data runs "
        f"(same training seeds), its 90% interval and whether the cell matches full data within ±{margin:g} "
        "points; *vs random*: the same against random pruning at the same fraction, and whether the method "
        "beats it (see Verdicts).",
        "",
        "| method | pruned | accuracy (%) | vs full [90% CI]: matches? | vs random [90% CI]: beats? |",
        "|---|---|---|---|---|",
    ]
    for _, r in comp.iterrows():
        m, f = r["method"], r["fraction_pruned"]
        acc = format_stats(r["accuracy"], r["std"], r["seeds"])
        vf = verdict_cell(cell_verdict(v, m, f, "full"))
        vr = verdict_cell(cell_verdict(v, m, f, "random"))
        lines.append(f"| {m} | {pct(f)} | {acc} | {vf} | {vr} |")
    return lines + [""]

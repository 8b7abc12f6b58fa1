"""The accuracy tables in markdown: method × fraction pruned, and against full data and random pruning."""

from __future__ import annotations

import pandas as pd

from datadiet.reports.setup import describe_setup, scoring_line
from datadiet.reports.text import format_difference, format_mean_std, format_stats, pct
from datadiet.runs import to_jsonable
from datadiet.tables import accuracy_cells, comparisons


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


def comparisons_markdown(results: pd.DataFrame, setup: str) -> list[str]:
    """The report's "Against full data and random pruning" section (lines; ``[]`` without pruned cells)."""
    comp = comparisons(results)
    if not len(comp):
        return []
    lines = [
        f"## Against full data and random pruning (percentage points): {setup}",
        "",
        "Accuracy: mean ± std over training seeds. Differences are between means; n = the training "
        "seeds behind the method's mean (and the reference's, when they differ).",
        "",
        "| method | pruned | accuracy (%) | vs full | vs random |",
        "|---|---|---|---|---|",
    ]
    for _, r in comp.iterrows():
        acc = format_stats(r["accuracy"], r["std"], r["seeds"])
        vf = format_difference(r["vs_full_points"], r["seeds"], r["full_seeds"])
        vr = format_difference(r["vs_random_points"], r["seeds"], r["random_seeds"])
        lines.append(f"| {r['method']} | {pct(r['fraction_pruned'])} | {acc} | {vf} | {vr} |")
    return lines + [""]

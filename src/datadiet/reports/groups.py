"""Who pays for the diet, in markdown: per-class and per-group accuracy changes, the worst group."""

from __future__ import annotations

import pandas as pd

from datadiet.reports.text import format_stats, pct
from datadiet.tables import cell_seeds, subgroup_changes, subgroup_columns, worst_cell, worst_group_table


def change_lines(df: pd.DataFrame, kind: str, names: list[str], target: float, setup: str, full_n: int) -> list[str]:
    """The per-class (``kind="class"``) or per-group change table at ``target`` pruned (lines; ``[]``
    without such columns)."""
    if not subgroup_columns(df, kind):
        return []
    changes = subgroup_changes(df, kind, target)
    seeds = cell_seeds(df, target)

    def name(k: int) -> str:
        return names[k] if k < len(names) else f"{kind} {k}"

    lines = [
        f"## Per-{kind} accuracy change at {pct(target)} pruned (points): {setup}",
        "",
        f"Differences of means over training seeds; full data n={full_n}.",
        "",
        "| method | " + " | ".join(name(k) for k in changes.columns) + " | worst |",
        "|---|" + "---|" * (len(changes.columns) + 1),
    ]
    for m, d in changes.iterrows():
        lines.append(
            f"| {m} (n={seeds[m]}) | "
            + " | ".join(f"{v:+.1f}" for v in d)
            + f" | {name(d.idxmin())} ({d.min():+.1f}) |"
        )
    return lines + [""]


def _worst_group_lines(df: pd.DataFrame) -> list[str]:
    table, full = worst_group_table(df)
    lines = [
        f"Worst-group test accuracy (%), the accuracy of each run's weakest group (full data: {format_stats(*full)}):",
        "",
        "| method | pruned | worst-group accuracy (%) | vs full (points) |",
        "|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        acc = format_stats(r["accuracy"], r["std"], r["seeds"])
        lines.append(f"| {r['method']} | {pct(r['fraction_pruned'])} | {acc} | {r['vs_full_points']:+.2f} |")
    return lines + [""]


def _change_text(points: float) -> str:
    """An accuracy change in words: ``loses 3.2 points``, ``gains 1.0 points`` (never ``loses -1.0``)."""
    if round(points, 1) == 0:
        return "keeps its accuracy (change 0.0 points)"
    return f"{'loses' if points < 0 else 'gains'} {abs(points):.1f} points"


def group_lines(df: pd.DataFrame, summary: dict, target: float, setup: str, full_n: int) -> list[str]:
    """Who pays beyond classes: the per-group table, the worst group named, worst-group accuracy."""
    if not subgroup_columns(df, "group"):
        return []
    names = list(summary.get("group_names") or [])
    lines = change_lines(df, "group", names, target, setup, full_n)
    changes = subgroup_changes(df, "group", target)
    m, k = worst_cell(changes)
    gname = names[k] if k < len(names) else f"group {k}"
    grouping = summary.get("groups")
    lines[0] += f" (groups: {grouping})" if grouping else ""
    lines[-1:-1] = [
        "",
        f"**Worst group**: {gname}, which {_change_text(changes.loc[m, k])} under {m} at {pct(target)} pruned.",
    ]
    if "worst_group_accuracy" in df.columns:
        lines += _worst_group_lines(df)
    return lines

"""The diet study's report text: the main sweep's report, then what cheaper scoring loses."""

from __future__ import annotations

import pandas as pd

from datadiet.reports.setup import describe_setup
from datadiet.reports.sweep import report_margin, report_markdown
from datadiet.reports.text import format_mean_std, pct
from datadiet.reports.verdicts import verdict_sentence, verdicts_markdown
from datadiet.tables import sweep_verdicts


def variants_markdown(
    agreement: pd.DataFrame, cells: pd.DataFrame, setup: str, *, fraction: float, keep: tuple[float, float]
) -> list[str]:
    """The "cheaper scoring" section: one row per scoring variant (``fraction``: the pruned fraction
    each variant's accuracy is measured at; ``keep``: the kept fractions of the two overlaps)."""
    ref = agreement.iloc[0]
    k1, k2 = keep
    lines = [
        f"## Cheaper scoring, measured for what it loses: {setup}",
        "",
        f"EL2N from the trained CNN with {int(ref['score_seeds'])} seeds at epoch {ref['score_epoch']:g} is the "
        f"reference. *Spearman* and *top-k overlap* compare each variant's scores with it (overlap: the share "
        f"of the reference's kept set that the variant keeps too, at {k1:.0%} and {k2:.0%} kept; unrelated "
        f"scores give about {k1:.0%} and {k2:.0%}). *Scoring* is its FLOPs relative to one full-data "
        f"training; *validation* and *test* the accuracy of training on the {1 - fraction:.0%} it keeps, "
        "mean ± std over training seeds. The variant **chosen** to score the rest of the study is the one "
        "with the best validation accuracy; its test accuracy is only reported.",
        "",
        f"| scoring | scoring FLOPs vs full | Spearman | overlap at {k1:.0%} | overlap at {k2:.0%} | "
        f"validation, {fraction:.0%} pruned (%) | test, {fraction:.0%} pruned (%) | test vs full (points) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in agreement.iterrows():
        at = cells[(cells["variant"] == r["variant"]) & (cells["fraction"] == fraction)]
        val = format_mean_std(at["val_accuracy"]) if "val_accuracy" in at.columns else "–"
        name = f"**{r['variant']} (chosen)**" if bool(r.get("chosen", False)) else r["variant"]
        lines.append(
            f"| {name} | {r['scoring_vs_full']:.3f}x | {r['spearman']:.3f} | {r[f'overlap_keep_{k1:g}']:.3f} | "
            f"{r[f'overlap_keep_{k2:g}']:.3f} | {val} | {format_mean_std(at['test_accuracy'])} | "
            f"{r['vs_full_points']:+.2f} |"
        )
    full = cells[cells["fraction"] == 0].drop_duplicates("run_dir")["test_accuracy"]
    lines += ["", f"Full data: {format_mean_std(full)} %.", ""]
    return lines


def window_markdown(summary: dict, window: pd.DataFrame | None, setup: str) -> list[str]:
    """The window strategy at high pruning: every offset's validation and test accuracy, and the offset
    chosen on validation per fraction (lines; ``[]`` without window cells)."""
    if window is None or not len(window):
        return []
    chosen = (summary.get("choices") or {}).get("window_offsets") or {}
    lines = [
        f"## Skipping the hardest at high pruning (window strategy): {setup}",
        "",
        "At high pruning rates the hardest examples are often mislabeled: the window strategy skips the "
        "hardest OFFSET of the training set and keeps the next ones. The offset is chosen per fraction on "
        "validation accuracy; the results above list the chosen one as `el2n-window`.",
        "",
        "| pruned | offset skipped | validation (%) | test (%) | chosen |",
        "|---|---|---|---|---|",
    ]
    for (f, o), g in window.groupby(["fraction", "offset"]):
        mark = "yes" if abs(float(chosen.get(f"{f:g}", -1)) - o) < 1e-9 else ""
        lines.append(
            f"| {pct(f)} | {pct(o)} | {format_mean_std(g['val_accuracy'])} | {format_mean_std(g['test_accuracy'])} "
            f"| {mark} |"
        )
    return lines + [""]


def equal_steps_markdown(summary: dict, steps: pd.DataFrame | None) -> list[str]:
    """The paper's headline comparison at equal optimiser steps, with its verdicts (lines)."""
    if steps is None or not len(steps):
        return []
    margin = report_margin(summary)
    verdicts = sweep_verdicts(steps, margin=margin)
    f = float(steps.loc[steps["fraction"] > 0, "fraction"].iloc[0])
    cell = lambda m: format_mean_std(steps.loc[(steps["method"] == m) & (steps["fraction"] == f), "test_accuracy"])
    full = format_mean_std(steps.loc[steps["fraction"] == 0].drop_duplicates("seed")["test_accuracy"])
    setup = f"equal steps, {pct(f)} pruned"
    lines = [
        f"## The paper's headline at equal optimiser steps: {setup}",
        "",
        f"Every pruned run trains for as many optimiser steps as the full data (the data-diet paper's "
        f"comparison). Test accuracy: full data {full}; EL2N {cell('el2n')}; random {cell('random')}.",
        "",
    ]
    lines += [f"- {verdict_sentence(r)}" for _, r in verdicts.iterrows() if r["subject"] == "cell"]
    return lines + [""] + verdicts_markdown(verdicts, setup, margin=margin)


def diet_study_markdown(
    summary: dict, tables: dict[str, pd.DataFrame], *, fraction: float, keep: tuple[float, float]
) -> str:
    """``report.md`` of the diet study: the main sweep's report, then the scoring variants."""
    results = tables["results"]
    text = report_markdown(summary, results)
    agreement, cells = tables["scoring_variants"], tables["scoring_variant_cells"]
    study = summary.get("study") or {}
    setup = describe_setup(summary, results)
    lines = ["", *variants_markdown(agreement, cells, setup, fraction=fraction, keep=keep)]
    lines += window_markdown(summary, tables.get("window_cells"), setup)
    lines += equal_steps_markdown(summary, tables.get("equal_steps"))
    if study:
        ex = study.get("executor") or {}
        workers = ex.get("workers") or 1
        shared = (
            " (the seconds columns were measured with the other workers busy on the same cores)" if workers > 1 else ""
        )
        lines += [
            "## How this was made",
            "",
            f"`{study.get('command')}` ran {study.get('jobs')} jobs in {study.get('seconds', 0) / 60:.1f} min "
            f"of wall-clock time over {study.get('invocations', 1)} invocation(s) "
            f"on {study.get('runtime', {}).get('cpu_count', '?')} cores ({study.get('runtime', {}).get('cpu_model', 'CPU')}): "
            f"{ex.get('executor', 'inprocess')}, "
            f"{workers} worker(s) x {ex.get('threads') or 'all'} thread(s){shared}.",
            "",
        ]
    return text.rstrip("\n") + "\n" + "\n".join(lines)

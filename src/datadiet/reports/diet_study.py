"""The diet study's report text: the main sweep's report, then what cheaper scoring loses."""

from __future__ import annotations

import pandas as pd

from datadiet.reports.setup import describe_setup
from datadiet.reports.sweep import report_markdown
from datadiet.reports.text import format_mean_std


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
        f"training; *accuracy* that of training on the {1 - fraction:.0%} it keeps, mean ± std over "
        "training seeds.",
        "",
        f"| scoring | scoring FLOPs vs full | Spearman | overlap at {k1:.0%} | overlap at {k2:.0%} | "
        f"accuracy, {fraction:.0%} pruned (%) | vs full (points) |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in agreement.iterrows():
        acc = cells[(cells["variant"] == r["variant"]) & (cells["fraction"] == fraction)]["test_accuracy"]
        lines.append(
            f"| {r['variant']} | {r['scoring_vs_full']:.3f}x | {r['spearman']:.3f} | {r[f'overlap_keep_{k1:g}']:.3f} | "
            f"{r[f'overlap_keep_{k2:g}']:.3f} | {format_mean_std(acc)} | {r['vs_full_points']:+.2f} |"
        )
    full = cells[cells["fraction"] == 0].drop_duplicates("run_dir")["test_accuracy"]
    lines += ["", f"Full data: {format_mean_std(full)} %.", ""]
    return lines


def diet_study_markdown(
    summary: dict, tables: dict[str, pd.DataFrame], *, fraction: float, keep: tuple[float, float]
) -> str:
    """``report.md`` of the diet study: the main sweep's report, then the scoring variants."""
    results = tables["results"]
    text = report_markdown(summary, results)
    agreement, cells = tables["scoring_variants"], tables["scoring_variant_cells"]
    study = summary.get("study") or {}
    lines = ["", *variants_markdown(agreement, cells, describe_setup(summary, results), fraction=fraction, keep=keep)]
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

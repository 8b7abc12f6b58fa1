"""``report.md`` for a sweep directory: the accuracy table, the figures, and plain checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.errors import DataDietError
from datadiet.plots.sweep import full_data_rows
from datadiet.runs import atomic_write_bytes, read_json


def _load(run_dir: Path) -> tuple[dict, pd.DataFrame]:
    if not run_dir.is_dir():
        raise DataDietError(f"run directory not found: {run_dir}")
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        raise DataDietError(f"{run_dir} is not a finished sweep directory (no summary.json)")
    summary = read_json(summary_path)
    try:
        results = pd.read_parquet(run_dir / "results.parquet")
    except Exception as e:
        raise DataDietError(f"cannot read {run_dir / 'results.parquet'}: {type(e).__name__}") from None
    return summary, results


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def comparisons(results: pd.DataFrame) -> pd.DataFrame:
    """Per (method, fraction > 0): mean accuracy, its difference to full data and to random (points)."""
    mean = results.groupby(["method", "fraction"])["test_accuracy"].agg(["mean", "std", "count"]).reset_index()
    full = results.loc[results["fraction"] == 0, "test_accuracy"].mean()
    rows = []
    for _, r in mean[mean["fraction"] > 0].iterrows():
        rnd = mean[(mean["method"] == "random") & (mean["fraction"] == r["fraction"])]["mean"]
        rows.append({
            "method": r["method"], "fraction_pruned": r["fraction"], "accuracy": r["mean"],
            "std": r["std"] if r["count"] > 1 else np.nan, "seeds": int(r["count"]),
            "vs_full_points": 100 * (r["mean"] - full) if not np.isnan(full) else np.nan,
            "vs_random_points": 100 * (r["mean"] - float(rnd.iloc[0])) if len(rnd) and r["method"] != "random" else np.nan,
        })
    return pd.DataFrame(rows)


def write_report(run_dir: str | Path, *, redraw: bool = False) -> Path:
    """Write ``RUN_DIR/report.md`` (with ``redraw``, draw the figures again from the results first)."""
    run_dir = Path(run_dir)
    summary, results = _load(run_dir)
    if redraw:
        from datadiet.sweep.sweep import sweep_figures

        summary["figures"] = sweep_figures(results, summary.get("class_names", []), run_dir)
    cfg = summary["config"]
    tcfg = cfg["train"]
    names = summary.get("class_names", [])
    full = full_data_rows(results)["test_accuracy"]
    lines = [f"# Data-diet sweep: {summary['dataset']['name']}", ""]
    if summary.get("command"):
        lines += ["Made by:", "", "```bash", summary["command"], "```", ""]
    lines += [
        f"- model `{tcfg['model']}` (width {tcfg['width']}), {tcfg['epochs']} epochs, batch {tcfg['batch_size']}, "
        f"lr {tcfg['lr']} ({tcfg['schedule']}), augment {'dataset default' if tcfg['augment'] is None else tcfg['augment']}",
        f"- budget **{cfg['budget']}** ({'every subset trains as many steps as the full data' if cfg['budget'] == 'steps' else 'every subset trains the same number of epochs, so pruning saves compute'})",
        f"- scores at epoch {cfg['score_epoch']} of {tcfg['epochs']}, averaged over {cfg['score_seeds']} initialisations; "
        f"strategy `{cfg['strategy']}`" + (f", offset {cfg['offset']}" if cfg["strategy"] == "window" else "")
        + (", class-balanced" if cfg.get("balanced") else ""),
        f"- {cfg['seeds']} training seed(s) per cell; {summary['num_train']} training examples",
        "",
    ]
    if len(full):
        lines += [f"**Full-data test accuracy: {_pct(full.mean())}%** (mean of {len(full)} run(s)"
                  + (f", std {100 * full.std():.2f}" if len(full) > 1 else "") + ")", ""]
    lines += ["## Test accuracy (%) by fraction pruned", ""]
    pivot = results.groupby(["method", "fraction"])["test_accuracy"].mean().unstack("fraction") * 100
    header = "| method | " + " | ".join(f"{f:.0%}" for f in pivot.columns) + " |"
    lines += [header, "|---|" + "---|" * len(pivot.columns)]
    for m, row in pivot.iterrows():
        lines.append(f"| {m} | " + " | ".join("" if np.isnan(v) else f"{v:.2f}" for v in row) + " |")
    lines.append("")
    comp = comparisons(results)
    if len(comp):
        lines += ["## Against full data and random pruning (percentage points)", "",
                  "| method | pruned | accuracy | vs full | vs random |", "|---|---|---|---|---|"]
        for _, r in comp.iterrows():
            vr = "" if np.isnan(r["vs_random_points"]) else f"{r['vs_random_points']:+.2f}"
            vf = "" if np.isnan(r["vs_full_points"]) else f"{r['vs_full_points']:+.2f}"
            lines.append(f"| {r['method']} | {r['fraction_pruned']:.0%} | {100 * r['accuracy']:.2f} | {vf} | {vr} |")
        lines.append("")
    figs = summary.get("figures", {})
    captions = {
        "accuracy": "Test accuracy vs fraction pruned (the data-diet paper's Figure 1).",
        "per_class": "Per-class accuracy change against full data: does the diet hurt one class?",
        "compute": "Compute dividend: total examples processed (scoring + training) relative to full training.",
    }
    if figs:
        lines += ["## Figures", ""]
        for key in sorted(figs, key=lambda k: list(captions).index(k) if k in captions else len(captions)):
            lines += [f"{captions.get(key, key)}", "", f"![{key}]({Path(figs[key]).name})", ""]
    class_cols = [c for c in results.columns if c.startswith("class_") and c.endswith("_accuracy")]
    pruned = sorted(f for f in results["fraction"].unique() if f > 0)
    if class_cols and pruned and len(full):
        target = min(pruned, key=lambda f: abs(f - 0.5))
        full_cls = results.loc[results["fraction"] == 0, class_cols].mean()
        lines += [f"## Per-class accuracy change at {target:.0%} pruned (points)", "",
                  "| method | " + " | ".join(names[int(c.split('_')[1])] if names else c for c in class_cols) + " | worst |",
                  "|---|" + "---|" * (len(class_cols) + 1)]
        for m in results["method"].unique():
            sub = results[(results["method"] == m) & (results["fraction"] == target)]
            if not len(sub):
                continue
            d = 100 * (sub[class_cols].mean() - full_cls)
            worst = d.idxmin()
            lines.append(f"| {m} | " + " | ".join(f"{v:+.1f}" for v in d) +
                         f" | {names[int(worst.split('_')[1])] if names else worst} ({d.min():+.1f}) |")
        lines.append("")
    cost = results.groupby(["method", "fraction"])[["scoring_examples", "train_examples", "scoring_seconds", "train_seconds"]].mean()
    if len(full):
        full_ex = results.loc[results["fraction"] == 0, "train_examples"].mean()
        full_s = results.loc[results["fraction"] == 0, "train_seconds"].mean()
        lines += ["## Compute (mean per training run; scoring counted once per method)", "",
                  "Seconds are wall-clock on the machine that ran the sweep, and rise when other work shares its cores; "
                  "examples processed do not.", "",
                  "| method | pruned | scoring examples | training examples | total vs full | seconds (score + train) |",
                  "|---|---|---|---|---|---|"]
        for (m, f), r in cost.iterrows():
            if f == 0:
                continue
            total = (r["scoring_examples"] + r["train_examples"]) / full_ex
            lines.append(f"| {m} | {f:.0%} | {r['scoring_examples']:,.0f} | {r['train_examples']:,.0f} | {total:.2f}x | "
                         f"{r['scoring_seconds']:.0f} + {r['train_seconds']:.0f} (full: {full_s:.0f}) |")
        lines.append("")
    path = run_dir / "report.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path

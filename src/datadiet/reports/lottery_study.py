"""The lottery study's report text: its tables and plain answers, from its summary and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datadiet.tables.lottery import deepest_by_rewind_point, predictor_correlations


def _ms(values) -> str:
    v = 100 * np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if v.size > 1 else f"{v.mean():.2f}"


def _how(s: dict) -> str:
    ex = s.get("executor") or {}
    if ex.get("executor") == "ray":
        return f"Ray, {ex['workers']} workers x {ex['threads']} thread(s), {s['runtime']['cpu_model']}"
    return f"in-process, {ex.get('threads') or s['runtime']['threads']} thread(s), {s['runtime']['cpu_model']}"


def _matches(values, dense: float, points: float) -> bool:
    return bool(100 * (dense - float(np.mean(values))) <= points + 1e-9)


def _reading(lot: pd.DataFrame, s: dict) -> list[str]:
    """Plain answers to the study's questions, each number computed from the tables."""
    levels, k_star, points = s["levels"], s["k_star"], s["match_points"]
    deep = lot[(lot["condition"] == "imp") & (lot["level"] == levels)]
    dense = s["gate"]["dense"]
    acc = lambda k, p: deep.loc[(deep["rewind_step"] == k) & (deep["pretrain"] == p), "test_accuracy"]
    spread = 100 * deep.groupby(["rewind_step", "pretrain"])["test_accuracy"].std(ddof=1).mean()
    out = [
        "",
        f"Reading (dense: {100 * dense:.2f}%; the mean spread between the 2 replicates of one condition is "
        f"{spread:.2f} points, so differences below about that are noise):",
    ]
    full = acc(k_star, "full")
    for n in sorted({int(p.split(":")[1]) for p in deep["pretrain"] if ":" in p}):
        parts = []
        for kind in ("random", "easy", "hard"):
            a = acc(k_star, f"{kind}:{n}")
            if len(a):
                parts.append(f"{kind} {100 * a.mean():.2f} ({100 * (a.mean() - full.mean()):+.2f})")
        if parts:
            out.append(
                f"- Rewind point from {n} examples at k = {k_star}, deepest level against full data "
                f"({100 * full.mean():.2f}): " + ", ".join(parts) + "."
            )
    steps = sorted(deep["rewind_step"].unique())
    sizes = {p.split(":")[1] for p in deep["pretrain"] if ":" in p and (deep["pretrain"] == p).any()}
    for n in sorted(sizes, key=int):
        firsts = []
        for kind in ("random", "easy", "hard"):
            ks = [k for k in steps if k > 0 and len(acc(k, f"{kind}:{n}"))]
            if len(ks) > 1:
                ok = [k for k in ks if _matches(acc(k, f"{kind}:{n}"), dense, points)]
                firsts.append(f"{kind} from k = {ok[0]}" if ok else f"{kind} at none of k = {', '.join(map(str, ks))}")
        if firsts:
            out.append(
                f"- Steps needed with {n}-example subsets (deepest level within {points} points of dense; "
                f"steps tried: {', '.join(str(k) for k in steps if k > 0)}): " + "; ".join(firsts) + "."
            )
    return out


def study_markdown(s: dict, tables: dict[str, pd.DataFrame]) -> str:
    """The study's tables and answers, from its summary and its ``lottery`` and ``lmc`` tables (the
    report and the README block are this text)."""
    lot, lmc = tables["lottery"], tables["lmc"]
    levels, k_star, t = s["levels"], s["k_star"], s["train"]
    pruned = 100 * (1 - 0.8**levels)
    lines = [
        f"{s['dataset']['name']}, {t['model']} (lr {t['lr']:g}, batch {t['batch_size']}, {t['epochs']} epochs), "
        f"IMP at rate 0.2 for {levels} levels ({pruned:.1f}% of the weights pruned), "
        f"{s['replicates']} replicate(s); mean ± std over replicates, test accuracy in %. "
        f"Measured {s['seconds'] / 60:.1f} min for this dataset ({_how(s)}).",
        "",
        "| rewind step k | dense | deepest level | random pruning | random re-init | error barrier (points) | matches dense |",
        "|---|---|---|---|---|---|---|",
    ]
    full = lot[lot["pretrain"] == "full"]
    for k in sorted(full["rewind_step"].unique()):
        f = full[full["rewind_step"] == k]
        imp = f[f["condition"] == "imp"]

        def cell(cond: str, f: pd.DataFrame = f) -> str:
            rows = f.loc[(f["condition"] == cond) & (f["level"] == levels), "test_accuracy"]
            return _ms(rows) if len(rows) else "–"

        bar = lmc.loc[(lmc["pretrain"] == "full") & (lmc["from_step"] == k), "error_barrier"]
        lines.append(
            f"| {k} | {_ms(imp.loc[imp['level'] == 0, 'test_accuracy'])} | {cell('imp')} | {cell('random-prune')} | "
            f"{cell('random-reinit')} | {_ms(bar)} | {'yes' if s['gate']['matches'].get(str(k)) else 'no'} |"
        )
    lines.append("")
    if k_star is None:
        zero = s["gate"]["matches"].get("0")
        lines.append(
            "**Gate**: "
            + ("k = 0 already matches the dense network at this depth." if zero else "no rewind step matched.")
        )
        return "\n".join(lines) + "\n"
    lines.append(
        f"**Gate**: k* = {k_star} steps is the smallest rewind step whose deepest level is within "
        f"{s['match_points']} points of dense, where k = 0 is not."
    )
    sub = lot[(lot["condition"] == "imp") & (lot["level"] == levels) & (lot["pretrain"] != "full")]
    if len(sub):
        lines += [
            "",
            "| pre-training data (class-balanced) | rewind step | deepest level | rewind point's accuracy | error barrier (points) |",
            "|---|---|---|---|---|",
        ]
        deep_full = full[(full["condition"] == "imp") & (full["level"] == levels)]
        bar_all = lmc.rename(columns={"from_step": "rewind_step"})
        for (k, p), g in sorted(
            pd.concat([deep_full[deep_full["rewind_step"] > 0], sub]).groupby(["rewind_step", "pretrain"]),
            key=lambda kv: (kv[0][0], kv[0][1]),
        ):
            b = bar_all.loc[(bar_all["rewind_step"] == k) & (bar_all["pretrain"] == p), "error_barrier"]
            lines.append(f"| {p} | {k} | {_ms(g['test_accuracy'])} | {_ms(g['rewind_accuracy'])} | {_ms(b)} |")
        deep = deepest_by_rewind_point(lot, lmc, levels)
        rho_b, rho_a = predictor_correlations(deep)
        lines += [
            "",
            f"Over all {len(deep)} rewind points (every step, subset and replicate), the Spearman correlation of the "
            f"deepest level's accuracy with the error barrier is {rho_b:.2f} and with the rewind point's own "
            f"accuracy {rho_a:.2f}: the {'barrier' if abs(rho_b) > abs(rho_a) else 'rewind accuracy'} is the better "
            "predictor here"
            + (" (neither predicts much: both correlations are weak)." if max(abs(rho_b), abs(rho_a)) < 0.3 else "."),
        ]
        lines += _reading(lot, s)
    return "\n".join(lines) + "\n"

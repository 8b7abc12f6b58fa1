"""The lottery study's report text: its tables and plain answers, from its summary and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datadiet.reports.verdicts import verdict_cell, verdict_word
from datadiet.stats import ESTABLISHED
from datadiet.tables.lottery import MATCH_POINTS, deepest_by_rewind_point, match_verdicts, predictor_correlations


def _ms(values) -> str:
    v = 100 * np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if v.size > 1 else f"{v.mean():.2f}"


def _how(s: dict) -> str:
    ex = s.get("executor") or {}
    if ex.get("executor") == "ray":
        return f"Ray, {ex['workers']} workers x {ex['threads']} thread(s), {s['runtime']['cpu_model']}"
    return f"in-process, {ex.get('threads') or s['runtime']['threads']} thread(s), {s['runtime']['cpu_model']}"


def _verdicts(lot: pd.DataFrame, levels: int, keys) -> dict:
    """``{(k, pretrain): verdict row}`` of "the deepest level matches its dense network" on test accuracy."""
    v = match_verdicts(lot, levels, list(keys))
    return {(int(r["rewind_step"]), r["pretrain"]): r for _, r in v.iterrows()}


def _reading(lot: pd.DataFrame, s: dict) -> list[str]:
    """Plain answers to the study's questions, each number computed from the tables."""
    levels, k_star, points = s["levels"], s["k_star"], s.get("match_points", MATCH_POINTS)
    deep = lot[(lot["condition"] == "imp") & (lot["level"] == levels)]
    acc = lambda k, p: deep.loc[(deep["rewind_step"] == k) & (deep["pretrain"] == p), "test_accuracy"]
    spread = 100 * deep.groupby(["rewind_step", "pretrain"])["test_accuracy"].std(ddof=1).mean()
    out = [
        "",
        f"Reading (the mean spread between the {s['replicates']} replicates of one condition is {spread:.2f} "
        'points; each "matches" below is a verdict of the statistics core, paired by replicate against the dense '
        "network trained from the same rewind point):",
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
    keys = [(int(k), p) for k in steps if k > 0 for p in deep["pretrain"].unique() if ":" in p and len(acc(k, p))]
    verdicts = _verdicts(lot, levels, keys)
    for n in sorted(sizes, key=int):
        firsts = []
        for kind in ("random", "easy", "hard"):
            ks = [k for k in steps if k > 0 and (int(k), f"{kind}:{n}") in verdicts]
            if len(ks) > 1:
                ok = [k for k in ks if verdicts[(int(k), f"{kind}:{n}")]["verdict"] == ESTABLISHED]
                firsts.append(
                    f"{kind} from k = {ok[0]}"
                    if ok
                    else f"{kind}: established at none of k = {', '.join(map(str, ks))}"
                )
        if firsts:
            out.append(
                f"- Steps needed with {n}-example subsets (the first k whose deepest level is established to match "
                f"its dense network within {points} points; steps tried: {', '.join(str(k) for k in steps if k > 0)}): "
                + "; ".join(firsts)
                + "."
            )
    return out


def _gate_line(s: dict, verdicts: dict) -> str:
    """How k* was chosen: on validation (newer studies) or, in studies made before the validation split,
    on the test means (said so); and whether the test verdicts establish that k = 0 fails."""
    gate, k_star = s["gate"], s["k_star"]
    zero = verdicts.get((0, "full"))
    zero_text = f"k = 0 on test: {verdict_word(zero)}" if zero is not None else "k = 0 was not run"
    if gate.get("chosen_on") == "validation":
        how = (
            "established on validation"
            if gate.get("established")
            else "provisional: no step is established on validation"
        )
        if k_star is None:
            return f"**Gate** (chosen on validation): {'k = 0 already matches' if gate['matches'].get('0') else 'no rewind step matches'}; {zero_text}."
        return f"**Gate** (chosen on validation, {how}): k* = {k_star}; {zero_text}."
    old = "made before the validation split: k* was chosen on the test means, not on a verdict"
    if k_star is None:
        return f"**Gate** ({old}): no k*; {zero_text}."
    return f"**Gate** ({old}): k* = {k_star}; {zero_text}."


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
        "| rewind step k | dense | deepest level | random pruning | random re-init | error barrier (points) | "
        f"deepest vs its dense (points) [90% CI]: matches (≥ -{MATCH_POINTS:g})? |",
        "|---|---|---|---|---|---|---|",
    ]
    full = lot[lot["pretrain"] == "full"]
    verdicts = _verdicts(lot, levels, [(int(k), "full") for k in sorted(full["rewind_step"].unique())])
    for k in sorted(full["rewind_step"].unique()):
        f = full[full["rewind_step"] == k]
        imp = f[f["condition"] == "imp"]

        def cell(cond: str, f: pd.DataFrame = f) -> str:
            rows = f.loc[(f["condition"] == cond) & (f["level"] == levels), "test_accuracy"]
            return _ms(rows) if len(rows) else "–"

        bar = lmc.loc[(lmc["pretrain"] == "full") & (lmc["from_step"] == k), "error_barrier"]
        lines.append(
            f"| {k} | {_ms(imp.loc[imp['level'] == 0, 'test_accuracy'])} | {cell('imp')} | {cell('random-prune')} | "
            f"{cell('random-reinit')} | {_ms(bar)} | {verdict_cell(verdicts.get((int(k), 'full')))} |"
        )
    lines += ["", _gate_line(s, verdicts)]
    if k_star is None:
        return "\n".join(lines) + "\n"
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
        (rho_b, p_b), (rho_a, p_a) = predictor_correlations(deep)
        settled = [name for name, p in (("error barrier", p_b), ("rewind accuracy", p_a)) if p < 0.05 / 2]
        verdict = (
            f"established (Bonferroni over the two, α = 0.05) for the {' and the '.join(settled)}"
            if settled
            else "neither correlation is established (Bonferroni over the two, α = 0.05), so neither is shown to predict it"
        )
        lines += [
            "",
            f"Over all {len(deep)} rewind points (every step, subset and replicate), the Spearman correlation of the "
            f"deepest level's accuracy with the error barrier is {rho_b:.2f} (p = {p_b:.2f}) and with the rewind "
            f"point's own accuracy {rho_a:.2f} (p = {p_a:.2f}): {verdict}.",
        ]
        lines += _reading(lot, s)
    return "\n".join(lines) + "\n"

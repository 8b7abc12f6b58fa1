"""The lottery study's report text: pilots, gate, data-diet pre-training, connectivity and the verdicts on
Paul et al. 2022's three claims, from the study's summary and tables (nothing here computes a verdict:
they come from the statistics core through :mod:`datadiet.tables.lottery`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datadiet.lottery import LMC_THRESHOLD, LMC_THRESHOLDS, lmc_fraction
from datadiet.reports.verdicts import interval_text, verdict_cell, verdict_sentence, verdict_word
from datadiet.stats import paired_differences, t_interval
from datadiet.tables.lottery import MATCH_POINTS


def _ms(values) -> str:
    v = 100 * np.asarray(values, dtype=float)
    if not v.size:
        return "–"
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if v.size > 1 else f"{v.mean():.2f}"


def _how(s: dict) -> str:
    ex = s.get("executor") or {}
    if ex.get("executor") == "ray":
        return f"Ray, {ex['workers']} workers x {ex['threads']} thread(s), {s['runtime']['cpu_model']}"
    return f"in-process, {ex.get('threads') or s['runtime']['threads']} thread(s), {s['runtime']['cpu_model']}"


def _gap_cell(rows: pd.DataFrame, levels: int) -> str:
    """The deepest level minus the dense level, paired by replicate, with its 90% t interval."""
    by = lambda lv: {
        int(r): 100 * a
        for r, a in zip(rows.loc[rows["level"] == lv, "replicate"], rows.loc[rows["level"] == lv, "test_accuracy"])
    }
    d, reps = paired_differences(by(levels), by(0))
    if not reps:
        return "–"
    if len(d) < 2:
        return f"{float(np.mean(d)):+.2f}"
    iv = t_interval(d, confidence=0.90)
    return f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"


def pilots_lines(pilots: pd.DataFrame | None, levels: int) -> list[str]:
    if pilots is None or not len(pilots):
        return []
    lines = [
        "**Pilots** (the search for a regime where IMP fails without rewinding; 2 replicates each, "
        "deepest level minus its dense network with its 90% t interval, test accuracy in %):",
        "",
        "| pilot | rewind step k | dense | deepest level | deepest − dense (points) [90% CI] |",
        "|---|---|---|---|---|",
    ]
    imp = pilots[pilots["condition"] == "imp"]
    for (label, k), g in imp.groupby(["pilot", "rewind_step"], sort=False):
        lines.append(
            f"| {label} | {k} | {_ms(g.loc[g['level'] == 0, 'test_accuracy'])} | "
            f"{_ms(g.loc[g['level'] == levels, 'test_accuracy'])} | {_gap_cell(g, levels)} |"
        )
    return lines + [""]


def _lmc_cells(lmc: pd.DataFrame, k: int, p: str) -> tuple[str, str, str]:
    g = lmc[(lmc["from_step"] == k) & (lmc["pretrain"] == p)]
    if not len(g):
        return "–", "–", "–"
    return _ms(g["lmc_fraction"]), f"{g['train_ce_barrier_mean'].mean():.3f}", _ms(g["error_barrier"])


def gate_lines(s: dict, lot: pd.DataFrame, lmc: pd.DataFrame, verdicts: dict) -> list[str]:
    levels = s["levels"]
    lines = [
        "| rewind step k | dense (from k) | deepest level | random pruning | random re-init | LMC examples (%) | "
        f"train-loss barrier | error barrier (points) | deepest vs its dense (points) [90% CI]: matches (≥ -{MATCH_POINTS:g})? |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    full = lot[lot["pretrain"] == "full"]
    for k in sorted(full["rewind_step"].unique()):
        f = full[full["rewind_step"] == k]
        cell = lambda c, f=f: _ms(f.loc[(f["condition"] == c) & (f["level"] == levels), "test_accuracy"])
        frac, loss, err = _lmc_cells(lmc, int(k), "full")
        dense = _ms(f.loc[(f["condition"] == "imp") & (f["level"] == 0), "test_accuracy"])
        lines.append(
            f"| {k} | {dense} | {cell('imp')} | {cell('random-prune')} | {cell('random-reinit')} | {frac} | {loss} | "
            f"{err} | {verdict_cell(verdicts.get((int(k), 'full')))} |"
        )
    return lines


def subset_lines(s: dict, lot: pd.DataFrame, lmc: pd.DataFrame, verdicts: dict) -> list[str]:
    levels = s["levels"]
    deep = lot[(lot["condition"] == "imp") & (lot["pretrain"] != "full")]
    if not len(deep):
        return []
    lines = [
        "",
        "| rewind step | pre-training data (class-balanced) | rewind point's accuracy | dense (from it) | deepest level | "
        "LMC examples (%) | deepest vs its dense (points) [90% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for (k, p), g in sorted(deep.groupby(["rewind_step", "pretrain"]), key=lambda kv: (kv[0][0], kv[0][1])):
        frac, _, _ = _lmc_cells(lmc, int(k), p)
        lines.append(
            f"| {k} | {p} | {_ms(g.loc[g['level'] == 0, 'rewind_accuracy'])} | {_ms(g.loc[g['level'] == 0, 'test_accuracy'])} | "
            f"{_ms(g.loc[g['level'] == levels, 'test_accuracy'])} | {frac} | {verdict_cell(verdicts.get((int(k), p)))} |"
        )
    return lines


def _gate_line(s: dict, verdicts: list[dict]) -> str:
    gate, k_star = s["gate"], s["k_star"]
    zero = next((v for v in verdicts if v["claim"].startswith("k = 0:")), None)
    zero_text = (
        f"k = 0 falls below its dense network: **{verdict_word(zero)}** ({interval_text(zero)} points)"
        if zero
        else "k = 0 was not run"
    )
    how = (
        "established on validation" if gate.get("established") else "provisional: no step is established on validation"
    )
    if k_star is None:
        return f"**Gate** (chosen on validation): no rewind step matches its dense network; {zero_text}."
    fail = s.get("k_fail")
    fail_text = f"; the failing step for the subset comparisons is k = {fail}" if fail else ""
    return f"**Gate** (chosen on validation, {how}): k* = {k_star}{fail_text}. On test: {zero_text}."


def _is_match(record: dict) -> bool:
    """Whether a summary verdict is a table's "deepest level matches its dense network"."""
    return record.get("rewind_step") is not None and record.get("pretrain") is not None


def claims_lines(s: dict) -> list[str]:
    rows = s.get("verdicts", [])
    out = [
        "",
        f"**Verdicts** (test accuracy, paired by replicate; one-sided t tests at α = 0.05 with Holm's correction over "
        f'all {len(rows)} claims of this report, the tables\' "matches" included; "as good" and "matches" are '
        f"non-inferiority within {MATCH_POINTS:g} points):",
        "",
    ]
    return out + [f"- {verdict_sentence(r)}" for r in rows if not _is_match(r)]


def predictor_lines(s: dict, lmc_examples: pd.DataFrame | None) -> list[str]:
    preds = s.get("predictors") or []
    if not preds:
        return []
    out = [
        "",
        "**Claim (3): connectivity and IMP** (Spearman's rho over the rewind points, every step, pre-training data and "
        "replicate, against the deepest level minus its dense network from the same point; 90% interval by Fisher's z "
        "with the Bonett–Wright standard error, established when it lies wholly on the predicted side of 0; replicates "
        "of one condition are not fully independent, so the interval is somewhat optimistic). An example is linearly mode connected "
        f"when its train-loss barrier at the midpoint, mean over the pairs of copies, is at most {LMC_THRESHOLD:g} nats:",
        "",
        "| predictor | predicted | rho [90% CI] | n | verdict |",
        "|---|---|---|---|---|",
    ]
    for p in preds:
        lo, hi = p["interval"]
        ci = f"{p['estimate']:+.2f} [{lo:+.2f}, {hi:+.2f}]" if lo is not None and p["estimate"] is not None else "–"
        what = p["claim"].split("the ", 1)[1].split(" predicts")[0]
        out.append(f"| {what} | {p['kind'].split()[-1]} | {ci} | {p['n']} | {p['verdict']} |")
    if lmc_examples is not None and len(lmc_examples):
        sens = []
        for (k, pre), g in lmc_examples.groupby(["from_step", "pretrain"]):
            if pre == "full":
                fr = [100 * lmc_fraction(g["loss_barrier"].to_numpy(), t) for t in LMC_THRESHOLDS]
                sens.append(f"| {k} | " + " | ".join(f"{f:.1f}" for f in fr) + " |")
        out += [
            "",
            "Connected examples (%) from the full-data rewind points at other thresholds (nats), pooled over replicates "
            "(from the kept per-example table `lmc_examples.parquet`):",
            "",
            "| k | " + " | ".join(f"≤ {t:g}" for t in LMC_THRESHOLDS) + " |",
            "|---|" + "---|" * len(LMC_THRESHOLDS),
            *sens,
        ]
    return out


def study_markdown(s: dict, tables: dict[str, pd.DataFrame]) -> str:
    """The study's tables and answers, from its summary and its tables (the report and the README block
    are this text)."""
    lot, lmc = tables["lottery"], tables["lmc"]
    levels, t = s["levels"], s["train"]
    pruned = 100 * (1 - 0.8**levels)
    warm = f"warm-up {t['warmup']:g}" if t["schedule"] in ("onecycle", "cosine") and t["warmup"] else "no warm-up"
    lines = [
        f"{s['dataset']['name']}, {t['model']} (lr {t['lr']:g}, {t['schedule']} schedule, {warm}, batch "
        f"{t['batch_size']}, {t['epochs']} epochs), IMP at rate 0.2 for {levels} levels ({pruned:.1f}% of the weights "
        f"pruned), {s['replicates']} replicates, {s.get('copies', 2)} copies per LMC run; mean ± std over replicates, "
        f"test accuracy in %. Measured {s['seconds'] / 60:.1f} min ({_how(s)}).",
        "",
        *pilots_lines(tables.get("pilots"), levels),
    ]
    verdicts = {(int(r["rewind_step"]), r["pretrain"]): r for r in s.get("verdicts", []) if _is_match(r)}
    lines += gate_lines(s, lot, lmc, verdicts)
    lines += ["", _gate_line(s, s.get("verdicts", []))]
    lines += subset_lines(s, lot, lmc, verdicts)
    lines += claims_lines(s)
    lines += predictor_lines(s, tables.get("lmc_examples"))
    return "\n".join(lines) + "\n"

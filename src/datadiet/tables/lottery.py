"""Tables of the lottery study (pure): per rewind point, how deep IMP got and how connected it was."""

from __future__ import annotations

import pandas as pd
from scipy.stats import spearmanr

from datadiet.errors import DataDietError
from datadiet.stats import ESTABLISHED, Claim, judge, paired_differences
from datadiet.tables.verdicts import verdict_records, verdict_table


def deepest_by_rewind_point(lottery: pd.DataFrame, lmc: pd.DataFrame, levels: int) -> pd.DataFrame:
    """One row per rewind point (step, pre-training data, replicate): the deepest IMP level's accuracy,
    the rewind point's own accuracy, and the error barrier of the copies trained from it."""
    imp = lottery[(lottery["condition"] == "imp") & (lottery["level"] == levels)]
    imp = imp[["rewind_step", "pretrain", "replicate", "test_accuracy", "rewind_accuracy", "pretrain_size"]]
    barriers = lmc.rename(columns={"from_step": "rewind_step"})
    return imp.merge(
        barriers[["rewind_step", "pretrain", "replicate", "error_barrier"]], on=["rewind_step", "pretrain", "replicate"]
    )


def predictor_correlations(deep: pd.DataFrame) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((rho, p), (rho, p))``: Spearman's rho of the deepest level's accuracy with the error barrier,
    and with the rewind point's own accuracy, over the rows of :func:`deepest_by_rewind_point`, each
    with its two-sided p-value (rows from one replicate's rewind points are not independent of the
    others', so the p-values are optimistic)."""
    b = spearmanr(deep["error_barrier"], deep["test_accuracy"])
    a = spearmanr(deep["rewind_accuracy"], deep["test_accuracy"])
    return (float(b.statistic), float(b.pvalue)), (float(a.statistic), float(a.pvalue))


MATCH_POINTS = 0.5  # "matches the dense network": at most this many points below it


def match_claim(
    lottery: pd.DataFrame, rewind_step: int, pretrain: str, levels: int, *, column: str = "test_accuracy"
) -> Claim | None:
    """ "IMP's deepest level from rewind step k (pre-trained on ``pretrain``) matches its dense network":
    ``not-worse`` within :data:`MATCH_POINTS`, paired by replicate against the dense network trained from
    the same rewind point (level 0 of the same row), in points of ``column``. None without both levels."""
    if column not in lottery.columns:
        raise DataDietError(f"lottery rows have no {column!r} column; they have {list(lottery.columns)}")
    rows = lottery[
        (lottery["condition"] == "imp") & (lottery["rewind_step"] == rewind_step) & (lottery["pretrain"] == pretrain)
    ]

    def by_rep(level: int) -> dict:
        at = rows[rows["level"] == level]
        return {int(r): 100 * float(a) for r, a in zip(at["replicate"], at[column])}

    deep, dense = by_rep(levels), by_rep(0)
    d, reps = paired_differences(deep, dense)
    if not reps:
        return None
    text = f"k = {rewind_step} ({pretrain}): the deepest level matches its dense network (≥ -{MATCH_POINTS:g} points)"
    extra = {"rewind_step": int(rewind_step), "pretrain": pretrain, "column": column}
    return Claim(text, "not-worse", differences=tuple(d), margin=MATCH_POINTS, extra=extra)


def match_verdicts(
    lottery: pd.DataFrame, levels: int, keys: list[tuple[int, str]], *, column: str = "test_accuracy"
) -> pd.DataFrame:
    """The :func:`match_claim` verdicts of the (rewind step, pre-training) ``keys``, Holm-adjusted together."""
    claims = [c for k, p in keys if (c := match_claim(lottery, k, p, levels, column=column)) is not None]
    return verdict_table(judge(claims))


def gate_choice(lottery: pd.DataFrame, levels: int) -> tuple[int | None, dict]:
    """k*: the smallest rewind step whose deepest level is *established* on **validation** accuracy to
    match its dense network (full-data pre-training), unless k = 0 already is (then None). When no step
    is established, the smallest whose validation mean matches, marked provisional. Test accuracy is
    only reported: ``info`` holds both splits' verdicts, the per-k means and how k* was reached."""
    full = lottery[lottery["pretrain"] == "full"]
    ks = sorted(int(k) for k in full["rewind_step"].unique())
    val = match_verdicts(lottery, levels, [(k, "full") for k in ks], column="val_accuracy")
    test = match_verdicts(lottery, levels, [(k, "full") for k in ks])
    established = {int(r["rewind_step"]): r["verdict"] == ESTABLISHED for _, r in val.iterrows()}
    near = {int(r["rewind_step"]): r["estimate"] >= -MATCH_POINTS for _, r in val.iterrows()}
    info = {
        "chosen_on": "validation",
        "matches": established,
        "validation_verdicts": verdict_records(val),
        "test_verdicts": verdict_records(test),
    }
    if established.get(0, False):
        return None, {**info, "established": True}
    k = next((k for k in ks if established.get(k)), None)
    if k is not None:
        return k, {**info, "established": True}
    k = next((k for k in ks if k > 0 and near.get(k)), None)
    return k, {**info, "established": False}

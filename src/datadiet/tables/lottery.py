"""Tables of the lottery study (pure): per rewind point, how deep IMP got and how connected it was."""

from __future__ import annotations

import pandas as pd
from scipy.stats import spearmanr

from datadiet.errors import DataDietError
from datadiet.stats import ESTABLISHED, Claim, judge, paired_differences, spearman_verdict
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
    deep = _deepest_by_rep(lottery, rewind_step, pretrain, levels, column)
    dense = _deepest_by_rep(lottery, rewind_step, pretrain, 0, column)
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


def _deepest_by_rep(lottery: pd.DataFrame, rewind_step: int, pretrain: str, levels: int, column: str) -> dict:
    rows = lottery[
        (lottery["condition"] == "imp")
        & (lottery["rewind_step"] == rewind_step)
        & (lottery["pretrain"] == pretrain)
        & (lottery["level"] == levels)
    ]
    return {int(r): 100 * float(a) for r, a in zip(rows["replicate"], rows[column])}


def _gap_by_rep(lottery: pd.DataFrame, rewind_step: int, pretrain: str, levels: int, column: str) -> dict:
    """Per replicate: the deepest level's accuracy minus its own dense network's (points)."""
    deep = _deepest_by_rep(lottery, rewind_step, pretrain, levels, column)
    dense = _deepest_by_rep(lottery, rewind_step, pretrain, 0, column)
    return {r: deep[r] - dense[r] for r in deep if r in dense}


def compare_claim(
    lottery: pd.DataFrame,
    text: str,
    kind: str,
    a: tuple[int, str],
    b: tuple[int, str],
    levels: int,
    *,
    margin: float = MATCH_POINTS,
    column: str = "test_accuracy",
    gap: bool = False,
) -> Claim | None:
    """A claim about the deepest level of rewind point ``a`` = (step, pretrain) against ``b``, paired by
    replicate (the replicates share their initialisation); ``gap``: each side's deepest level minus its
    own dense network. None when no replicate has both."""
    pick = _gap_by_rep if gap else _deepest_by_rep
    d, reps = paired_differences(pick(lottery, *a, levels, column), pick(lottery, *b, levels, column))
    if not reps:
        return None
    extra = {"a": f"k={a[0]} {a[1]}", "b": f"k={b[0]} {b[1]}", "column": column}
    return Claim(text, kind, differences=tuple(d), margin=margin, extra=extra)


def zero_fails_claim(lottery: pd.DataFrame, levels: int, *, column: str = "test_accuracy") -> Claim | None:
    """ "Without rewinding (k = 0), IMP's deepest level falls below its dense network": ``worse``, paired
    by replicate against the dense network trained from the same initialisation. None without rows."""
    d, reps = paired_differences(
        _deepest_by_rep(lottery, 0, "full", levels, column), _deepest_by_rep(lottery, 0, "full", 0, column)
    )
    if not reps:
        return None
    text = "k = 0: the deepest level falls below its dense network"
    extra = {"a": "k=0 full, deepest level", "b": "k=0 full, dense", "column": column}
    return Claim(text, "worse", differences=tuple(d), margin=MATCH_POINTS, extra=extra)


def failing_step(lottery: pd.DataFrame, levels: int, k_star: int | None) -> int | None:
    """The rewind step where full-data pre-training does not yet work, for the subset comparisons: the
    largest gate step in (0, k*) not established on **validation** to match its dense network."""
    if k_star is None:
        return None
    full = lottery[lottery["pretrain"] == "full"]
    ks = sorted(int(k) for k in full["rewind_step"].unique() if 0 < k < k_star)
    val = match_verdicts(lottery, levels, [(k, "full") for k in ks], column="val_accuracy")
    ok = {int(r["rewind_step"]): r["verdict"] == ESTABLISHED for _, r in val.iterrows()}
    return next((k for k in reversed(ks) if not ok.get(k, False)), None)


def study_claims(
    lottery: pd.DataFrame, levels: int, *, k_star: int | None, k_fail: int | None, sizes: tuple[int, ...], size: int
) -> list[Claim]:
    """Every claim the study's report states, on test accuracy (judged together, Holm-adjusted):
    k = 0 fails; each rewind point's deepest level matches its dense network; rewinding to k* beats k = 0;
    (1) a small random subset at k* is as good a rewind point as the full data (per size);
    (2) easy examples get there in fewer steps (at the failing step, easy beats random and full data);
    and hard examples do worse than random ones at k*."""
    keys = sorted({(int(k), p) for k, p in zip(lottery["rewind_step"], lottery["pretrain"])})
    claims = [zero_fails_claim(lottery, levels)]
    claims += [match_claim(lottery, k, p, levels) for k, p in keys]
    if k_star is not None:
        ks, kf = (k_star, "full"), (k_fail, "full")
        claims.append(
            compare_claim(lottery, f"rewinding to k = {k_star} beats k = 0", "better", ks, (0, "full"), levels)
        )
        for n in sizes:
            claims.append(
                compare_claim(
                    lottery,
                    f"(1) {n} random examples before k = {k_star} give as good a rewind point as the full data",
                    "not-worse",
                    (k_star, f"random:{n}"),
                    ks,
                    levels,
                )
            )
        claims.append(
            compare_claim(
                lottery,
                f"hard {size} do worse than random {size} at k = {k_star}",
                "worse",
                (k_star, f"hard:{size}"),
                (k_star, f"random:{size}"),
                levels,
            )  # fmt: skip
        )
        if k_fail is not None:
            easy = (k_fail, f"easy:{size}")
            claims.append(
                compare_claim(
                    lottery,
                    f"(2) at k = {k_fail}, easy {size} beat random {size}",
                    "better",
                    easy,
                    (k_fail, f"random:{size}"),
                    levels,
                )  # fmt: skip
            )
            claims.append(
                compare_claim(
                    lottery, f"(2) at k = {k_fail}, easy {size} beat the full data", "better", easy, kf, levels
                )
            )
    return [c for c in claims if c is not None]


def lmc_points(lottery: pd.DataFrame, lmc: pd.DataFrame, levels: int) -> pd.DataFrame:
    """One row per rewind point (step, pre-training data, replicate): the fraction of linearly mode
    connected examples, the mean train-loss and test-error barriers of the copies trained from it, its
    own accuracy, and IMP's deepest level from it minus its dense network (points, same replicate)."""
    rows = []
    for (k, p), g in lmc.groupby(["from_step", "pretrain"]):
        gap = _gap_by_rep(lottery, int(k), p, levels, "test_accuracy")
        for _, r in g.iterrows():
            if int(r["replicate"]) in gap:
                rows.append(
                    {
                        "rewind_step": int(k),
                        "pretrain": p,
                        "replicate": int(r["replicate"]),
                        "lmc_fraction": float(r["lmc_fraction"]),
                        "train_loss_barrier": float(r["train_ce_barrier_mean"]),
                        "error_barrier": float(r["error_barrier"]),
                        "rewind_accuracy": float(r["rewind_accuracy"]),
                        "imp_gap": gap[int(r["replicate"])],
                    }
                )
    return pd.DataFrame(rows)


PREDICTORS = {  # column: (what it is, the side that predicts IMP's success)
    "lmc_fraction": ("fraction of linearly mode connected training examples", "positive"),
    "train_loss_barrier": ("mean train-loss barrier", "negative"),
    "error_barrier": ("test-error barrier", "negative"),
    "rewind_accuracy": ("the rewind point's own test accuracy", "positive"),
}


def predictor_verdicts(points: pd.DataFrame) -> list:
    """Spearman's rho of each :data:`PREDICTORS` column with IMP's gap to its dense network over the
    rewind points of :func:`lmc_points`, with its interval and verdict
    (:func:`datadiet.stats.spearman_verdict`). The replicates of one condition share its step and data,
    so the points are not fully independent and the interval is somewhat optimistic."""
    out = []
    for col, (what, side) in PREDICTORS.items():
        claim = f"(3) the {what} predicts IMP's success ({side} correlation)"
        out.append(spearman_verdict(claim, points[col], points["imp_gap"], side=side))
    return out

"""Tables of the lottery study (pure): per rewind point, how deep IMP got and how connected it was."""

from __future__ import annotations

import pandas as pd
from scipy.stats import spearmanr


def deepest_by_rewind_point(lottery: pd.DataFrame, lmc: pd.DataFrame, levels: int) -> pd.DataFrame:
    """One row per rewind point (step, pre-training data, replicate): the deepest IMP level's accuracy,
    the rewind point's own accuracy, and the error barrier of the copies trained from it."""
    imp = lottery[(lottery["condition"] == "imp") & (lottery["level"] == levels)]
    imp = imp[["rewind_step", "pretrain", "replicate", "test_accuracy", "rewind_accuracy", "pretrain_size"]]
    barriers = lmc.rename(columns={"from_step": "rewind_step"})
    return imp.merge(
        barriers[["rewind_step", "pretrain", "replicate", "error_barrier"]], on=["rewind_step", "pretrain", "replicate"]
    )


def predictor_correlations(deep: pd.DataFrame) -> tuple[float, float]:
    """Spearman's rho of the deepest level's accuracy with the error barrier, and with the rewind
    point's own accuracy, over the rows of :func:`deepest_by_rewind_point`."""
    rho_b = spearmanr(deep["error_barrier"], deep["test_accuracy"]).statistic
    rho_a = spearmanr(deep["rewind_accuracy"], deep["test_accuracy"]).statistic
    return float(rho_b), float(rho_a)

"""The seeds advisor's sentence: how few score seeds, how early, keep the same examples (pure: a table in,
words out). The table is :func:`datadiet.tables.seeds.epoch_stability`'s (or ``seed_stability``'s)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datadiet.defaults import DEFAULT_SEEDS_TARGET
from datadiet.reports.text import pct
from datadiet.tables.seeds import cheapest_setting, closest_setting


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def _setting(row: pd.Series) -> str:
    m = int(row["seeds"])
    at = f" at epoch {row['epoch']:g}" if "epoch" in row else ""
    return f"{m} seed{'s' if m != 1 else ''}{at}"


def _reference(row: pd.Series) -> str:
    at = f" at epoch {row['reference_epoch']:g}" if "reference_epoch" in row else ""
    if row["comparison"] == "given":
        return "the reference scores given"
    total = int(row["seeds"] + row["reference_seeds"])
    return f"the mean of the other {int(row['reference_seeds'])} of {total} seeds{at}"


def _draws(row: pd.Series) -> str:
    d = int(row["draws"])
    disjoint = " of disjoint seeds" if row["comparison"] == "disjoint" else ""
    return f"mean over {d} draw{'s' if d != 1 else ''}{disjoint}, the worst {_percent(row['overlap_min'])}"


def seeds_sentence(table: pd.DataFrame, *, keep: float, target: float = DEFAULT_SEEDS_TARGET) -> str:
    """One sentence at kept fraction ``keep``: the cheapest setting (fewest seeds x epoch) whose mean
    top-k overlap with its reference is >= ``target`` (:func:`~datadiet.tables.seeds.cheapest_setting`),
    e.g. "for this data, 2 seeds at epoch 1 keep 96.1% of the same examples as the reference (the mean
    of the other 6 of 8 seeds at epoch 4), at 50% kept (mean over 20 draws of disjoint seeds, the
    worst 94.0%)", or that no cheaper setting does and which comes closest."""
    chosen = cheapest_setting(table, keep=keep, target=target)
    if chosen is not None:
        verb = "keeps" if int(chosen["seeds"]) == 1 else "keep"
        return (
            f"for this data, {_setting(chosen)} {verb} {_percent(chosen['overlap_mean'])} of the same examples as "
            f"the reference ({_reference(chosen)}), at {pct(keep)} kept ({_draws(chosen)})"
        )
    best = closest_setting(table, keep=keep)
    if best is None:
        seeds = table[np.isclose(table["keep"], keep)]["seeds"].max() if len(table) else 0
        return (
            f"for this data, no setting can be checked at {pct(keep)} kept: with {int(seeds)} seed(s) no disjoint "
            "seeds are left to compare with (score with at least 2 seeds)"
        )
    verb = "keeps" if int(best["seeds"]) == 1 else "keep"
    return (
        f"for this data, no cheaper setting keeps {pct(target)} of the same examples as the reference at "
        f"{pct(keep)} kept; the closest, {_setting(best)}, {verb} {_percent(best['overlap_mean'])} "
        f"({_reference(best)}; {_draws(best)})"
    )


def seeds_sentences(table: pd.DataFrame, *, target: float = DEFAULT_SEEDS_TARGET) -> list[str]:
    """:func:`seeds_sentence` for each kept fraction of ``table``, in its order."""
    return [seeds_sentence(table, keep=float(k), target=target) for k in dict.fromkeys(table["keep"])]

"""Statistics behind every verdict the tool states: pure functions, arrays in and numbers out.

* :mod:`datadiet.stats.intervals` — paired t and bootstrap intervals, Welch's interval.
* :mod:`datadiet.stats.hypotheses` — one-sided t tests, TOST equivalence, Holm, seeds needed.
* :mod:`datadiet.stats.verdicts` — claims judged *established*, *not established* or *refuted*.
* :mod:`datadiet.stats.correlation` — Spearman's rho with its interval and the same verdicts.
"""

from datadiet.stats.correlation import Correlation, spearman_verdict
from datadiet.stats.hypotheses import (
    DEFAULT_ALPHA,
    DEFAULT_MARGIN,
    holm,
    p_greater,
    p_less,
    seeds_needed,
    tost,
    tost_welch,
    welch_p_greater,
    welch_p_less,
)
from datadiet.stats.intervals import (
    DEFAULT_CONFIDENCE,
    Interval,
    bootstrap_distribution,
    bootstrap_interval,
    paired_differences,
    t_interval,
    welch_interval,
)
from datadiet.stats.verdicts import ESTABLISHED, KINDS, MIN_SEEDS, NOT_ESTABLISHED, REFUTED, Claim, Verdict, judge

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_MARGIN",
    "ESTABLISHED",
    "KINDS",
    "MIN_SEEDS",
    "NOT_ESTABLISHED",
    "REFUTED",
    "Claim",
    "Correlation",
    "Interval",
    "Verdict",
    "bootstrap_distribution",
    "bootstrap_interval",
    "holm",
    "judge",
    "p_greater",
    "p_less",
    "paired_differences",
    "seeds_needed",
    "spearman_verdict",
    "t_interval",
    "tost",
    "tost_welch",
    "welch_interval",
    "welch_p_greater",
    "welch_p_less",
]

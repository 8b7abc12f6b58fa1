"""Hypothesis tests behind the verdicts: one-sided t tests, the two one-sided tests (TOST) of
equivalence, Holm's step-down correction, and the seeds that would settle a claim.

Paired tests take the per-seed differences ``d`` (:func:`datadiet.stats.intervals.paired_differences`);
the Welch variants take the two unpaired samples. All p-values are one number in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from datadiet.errors import DataDietError
from datadiet.stats.intervals import _values

DEFAULT_MARGIN = 0.3  # percentage points: "within 0.3 points of full data"
DEFAULT_ALPHA = 0.05
MAX_SEEDS = 1000  # seeds_needed gives up beyond this


def check_alpha(alpha) -> float:
    a = float(alpha)
    if not 0 < a < 0.5:
        raise DataDietError(f"alpha must be in (0, 0.5), got {alpha!r}")
    return a


def check_margin(margin) -> float:
    m = float(margin)
    if not (math.isfinite(m) and m > 0):
        raise DataDietError(f"margin must be a finite number > 0, got {margin!r}")
    return m


def _t_stats(d: np.ndarray) -> tuple[float, float, int]:
    """(mean, standard error, degrees of freedom) of paired differences."""
    n = len(d)
    return float(d.mean()), float(d.std(ddof=1)) / math.sqrt(n), n - 1


def _welch_stats(a, b) -> tuple[float, float, float]:
    x, y = _values("a", a, at_least=2), _values("b", b, at_least=2)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)) if se > 0 else math.inf
    return float(x.mean() - y.mean()), se, float(df)


def _p_greater(mean: float, se: float, df: float, bound: float) -> float:
    """p of H0: true mean <= bound against H1: > bound."""
    if se == 0:
        return 0.0 if mean > bound else 1.0
    return float(sps.t.sf((mean - bound) / se, df))


def _p_less(mean: float, se: float, df: float, bound: float) -> float:
    """p of H0: true mean >= bound against H1: < bound."""
    if se == 0:
        return 0.0 if mean < bound else 1.0
    return float(sps.t.cdf((mean - bound) / se, df))


def _paired(differences) -> tuple[float, float, int]:
    d = _values("differences", differences, at_least=2)
    return _t_stats(d)


def p_greater(differences, bound: float = 0.0) -> float:
    """One-sided paired t test of H1: mean difference > ``bound``."""
    return _p_greater(*_paired(differences), bound)


def p_less(differences, bound: float = 0.0) -> float:
    """One-sided paired t test of H1: mean difference < ``bound``."""
    return _p_less(*_paired(differences), bound)


def tost(differences, *, margin: float = DEFAULT_MARGIN) -> float:
    """The TOST p-value of equivalence within ``±margin`` for paired differences: the larger of the
    one-sided p-values of ``mean > -margin`` and ``mean < +margin``. Equivalence is established at
    level alpha when it is below alpha, i.e. when the (1 - 2 alpha) t interval lies inside ±margin."""
    m = check_margin(margin)
    mean, se, df = _paired(differences)
    return max(_p_greater(mean, se, df, -m), _p_less(mean, se, df, m))


def tost_welch(a, b, *, margin: float = DEFAULT_MARGIN) -> float:
    """TOST of equivalence of ``mean(a) - mean(b)`` within ``±margin``, unpaired (Welch)."""
    m = check_margin(margin)
    mean, se, df = _welch_stats(a, b)
    return max(_p_greater(mean, se, df, -m), _p_less(mean, se, df, m))


def welch_p_greater(a, b, bound: float = 0.0) -> float:
    """One-sided Welch test of H1: mean(a) - mean(b) > ``bound``."""
    return _p_greater(*_welch_stats(a, b), bound)


def welch_p_less(a, b, bound: float = 0.0) -> float:
    """One-sided Welch test of H1: mean(a) - mean(b) < ``bound``."""
    return _p_less(*_welch_stats(a, b), bound)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control over the claims of one report):
    sort ascending, multiply the i-th smallest (0-based) by ``m - i``, take the running maximum,
    cap at 1, and return them in the input order."""
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    if len(p) == 0:
        return p
    if not np.all((p >= 0) & (p <= 1)):
        raise DataDietError(f"pvalues must be in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def seeds_needed(mean: float, sd: float, *, bound: float, side: str, alpha: float = DEFAULT_ALPHA) -> int | None:
    """The fewest seeds ``n >= 2`` at which a one-sided t test at level ``alpha`` would reject, if the
    mean difference and its spread stayed as observed: ``side="above"``: ``mean - t(1-alpha, n-1)·sd/√n
    > bound``; ``side="below"``: ``mean + t·sd/√n < bound``. None when no number of seeds does (the
    observed mean is on the wrong side of ``bound``) or more than :data:`MAX_SEEDS` would be needed.

    This is the sample size at which the interval *at the observed values* would settle the claim
    (about 50% power if they are the truth): a planning figure, not a promise."""
    a = check_alpha(alpha)
    if side not in ("above", "below"):
        raise DataDietError(f"side must be 'above' or 'below', got {side!r}")
    gap = (mean - bound) if side == "above" else (bound - mean)
    if not (math.isfinite(mean) and math.isfinite(sd)) or gap <= 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        if gap > float(sps.t.ppf(1 - a, n - 1)) * sd / math.sqrt(n):
            return n
    return None

"""A rank correlation with its interval and verdict: does one measure predict another?

Spearman's rho between two paired samples (e.g. the fraction of linearly mode connected examples at
each rewind point, and how close IMP from that point comes to its dense network), its two-sided
(1 − 2α) interval from Fisher's z with the Bonett–Wright standard error for Spearman's rho,
``sqrt((1 + rho²/2) / (n − 3))``, and a verdict in the words of :mod:`datadiet.stats.verdicts`:
*established* when the interval lies wholly on the predicted side of 0 (one-sided test at α),
*refuted* when it lies wholly on the other side, else *not established*. Fewer than
:data:`MIN_POINTS` points settle nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from datadiet.errors import DataDietError
from datadiet.stats.hypotheses import DEFAULT_ALPHA, check_alpha
from datadiet.stats.verdicts import ESTABLISHED, NOT_ESTABLISHED, REFUTED

MIN_POINTS = 5  # below this the interval is not computed and nothing is settled
SIDES = ("positive", "negative")


@dataclass(frozen=True)
class Correlation:
    """Spearman's ``rho`` over ``n`` points with its (1 − 2α) interval, the one-sided p-value for the
    predicted ``side``, and the verdict on "the correlation is ``side``"."""

    claim: str
    side: str
    rho: float
    low: float
    high: float
    confidence: float
    n: int
    p: float
    verdict: str

    def as_dict(self) -> dict:
        def num(x):
            return None if not math.isfinite(x) else float(x)

        return {
            "claim": self.claim,
            "kind": f"correlation {self.side}",
            "verdict": self.verdict,
            "estimate": num(self.rho),
            "interval": [num(self.low), num(self.high)],
            "low": num(self.low),
            "high": num(self.high),
            "confidence": self.confidence,
            "n": self.n,
            "p_establish": num(self.p),
            "method": "Spearman, Fisher z (Bonett-Wright)",
        }


def spearman_verdict(claim: str, x, y, *, side: str = "positive", alpha: float = DEFAULT_ALPHA) -> Correlation:
    """Spearman's rho of ``x`` with ``y`` (same length, finite), its (1 − 2α) interval and the verdict
    on the claim that it is ``side`` (``"positive"`` or ``"negative"``)."""
    alpha = check_alpha(alpha)
    if side not in SIDES:
        raise DataDietError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise DataDietError(f"x and y must be 1-D arrays of the same length, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataDietError("x and y must be finite")
    n = a.size
    if n < MIN_POINTS or np.ptp(a) == 0 or np.ptp(b) == 0:
        rho = float(sps.spearmanr(a, b).statistic) if n >= 2 and np.ptp(a) and np.ptp(b) else math.nan
        return Correlation(claim, side, rho, -math.inf, math.inf, 1 - 2 * alpha, n, math.nan, NOT_ESTABLISHED)
    rho = float(sps.spearmanr(a, b).statistic)
    r = float(np.clip(rho, -0.999999, 0.999999))
    se = math.sqrt((1 + r * r / 2) / (n - 3))
    z, q = math.atanh(r), float(sps.norm.ppf(1 - alpha))
    low, high = math.tanh(z - q * se), math.tanh(z + q * se)
    sign = 1.0 if side == "positive" else -1.0
    p = float(sps.norm.sf(sign * z / se))
    if p < alpha:
        verdict = ESTABLISHED
    elif float(sps.norm.sf(-sign * z / se)) < alpha:
        verdict = REFUTED
    else:
        verdict = NOT_ESTABLISHED
    return Correlation(claim, side, rho, low, high, 1 - 2 * alpha, n, p, verdict)

"""Intervals for a difference of accuracies: paired by training seed (t and bootstrap) or unpaired (Welch).

A sweep trains its full-data run and every pruned run from the same training seeds, so the natural
design is paired: the claim "pruned matches full data" is about the per-seed differences
``d_s = acc(pruned, s) - acc(full, s)``, whose spread is usually much smaller than either arm's. Where
runs share no seeds, :func:`welch_interval` compares the two means without pairing.

Every function takes arrays (in any unit: the reports pass percentage points) and returns an
:class:`Interval`; none reads files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
from scipy import stats as sps

from datadiet.errors import DataDietError
from datadiet.validation import check_positive_int

DEFAULT_CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 20_000  # Monte Carlo resamples when the exact bootstrap is too large to enumerate
EXACT_BOOTSTRAP_LIMIT = 200_000  # enumerate every distinct resample while there are at most this many


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided interval at ``confidence``: ``estimate`` (the mean difference),
    ``low``/``high`` (±inf when it cannot be computed, e.g. one seed), ``n`` (pairs or the smaller arm),
    ``sd`` (standard deviation of the differences; for Welch, the standard error times sqrt(n)),
    ``se`` (standard error), ``df`` (degrees of freedom of the t distribution; NaN for the bootstrap)
    and ``method`` (``"paired t"``, ``"paired bootstrap"``, ``"welch"``)."""

    estimate: float
    low: float
    high: float
    n: int
    sd: float
    se: float
    df: float
    confidence: float
    method: str

    @property
    def finite(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def as_dict(self) -> dict:
        return {
            "estimate": self.estimate,
            "low": self.low if self.finite else None,
            "high": self.high if self.finite else None,
            "n": self.n,
            "confidence": self.confidence,
            "method": self.method,
        }


def _values(name: str, values, *, at_least: int = 1) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise DataDietError(f"{name} must be an array of numbers, got {type(values).__name__}") from None
    if len(v) < at_least:
        raise DataDietError(f"{name} needs at least {at_least} value(s), got {len(v)}")
    if not np.all(np.isfinite(v)):
        raise DataDietError(f"{name} must be finite, got {int((~np.isfinite(v)).sum())} NaN or infinite value(s)")
    return v


def _confidence(confidence) -> float:
    c = float(confidence)
    if not 0 < c < 1:
        raise DataDietError(f"confidence must be in (0, 1), got {confidence!r}")
    return c


def paired_differences(a: Mapping, b: Mapping) -> tuple[np.ndarray, list]:
    """``(a[s] - b[s] for the seeds s in both, those seeds in sorted order)``: the paired design.
    ``a`` and ``b`` map a training seed to a value; seeds in only one of them are left out."""
    seeds = sorted(set(a) & set(b))
    return np.array([float(a[s]) - float(b[s]) for s in seeds], dtype=float), seeds


def t_interval(differences, *, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Student's t interval for the mean of paired differences: ``mean ± t(1 - (1 - c)/2, n - 1) · sd / √n``.
    With one difference the interval is (-inf, inf)."""
    d = _values("differences", differences)
    c = _confidence(confidence)
    n, mean = len(d), float(d.mean())
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n, math.nan, math.nan, math.nan, c, "paired t")
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    half = float(sps.t.ppf(1 - (1 - c) / 2, n - 1)) * se
    return Interval(mean, mean - half, mean + half, n, sd, se, float(n - 1), c, "paired t")


def welch_interval(a, b, *, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Welch's interval for ``mean(a) - mean(b)`` of two unpaired samples (unequal variances,
    Welch-Satterthwaite degrees of freedom). Needs two values in each."""
    x, y = _values("a", a, at_least=2), _values("b", b, at_least=2)
    c = _confidence(confidence)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    mean = float(x.mean() - y.mean())
    if se == 0:
        return Interval(mean, mean, mean, min(len(x), len(y)), 0.0, 0.0, math.inf, c, "welch")
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = float(sps.t.ppf(1 - (1 - c) / 2, df)) * se
    n = min(len(x), len(y))
    return Interval(mean, mean - half, mean + half, n, se * math.sqrt(n), se, float(df), c, "welch")


def _multisets(n: int) -> int:
    return math.comb(2 * n - 1, n)


def bootstrap_distribution(differences, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(resample means, their probabilities)`` of the nonparametric bootstrap of the mean.

    Exact while the distinct resamples are few (at most :data:`EXACT_BOOTSTRAP_LIMIT`; up to 10
    seeds): every multiset of ``n`` draws with replacement is enumerated with its multinomial
    probability, so the interval needs no random numbers. Beyond that, :data:`BOOTSTRAP_RESAMPLES`
    resamples drawn with a generator seeded by ``seed``, each with probability ``1 / resamples``."""
    d = _values("differences", differences)
    n = len(d)
    if _multisets(n) <= EXACT_BOOTSTRAP_LIMIT:
        means, probs = [], []
        log_nfact = math.lgamma(n + 1)
        for combo in combinations_with_replacement(range(n), n):
            counts = np.bincount(combo, minlength=n)
            log_p = log_nfact - sum(math.lgamma(c + 1) for c in counts) - n * math.log(n)
            means.append(float(np.dot(counts, d)) / n)
            probs.append(math.exp(log_p))
        return np.array(means), np.array(probs)
    rng = np.random.default_rng(check_positive_int("seed", seed, allow_zero=True))
    idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    return d[idx].mean(axis=1), np.full(BOOTSTRAP_RESAMPLES, 1.0 / BOOTSTRAP_RESAMPLES)


def weighted_quantile(values: np.ndarray, probs: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative probability reaches ``q`` (the inverted-CDF quantile)."""
    order = np.argsort(values, kind="stable")
    v, cdf = values[order], np.cumsum(probs[order])
    cdf /= cdf[-1]
    i = int(np.searchsorted(cdf, q - 1e-12, side="left"))
    return float(v[min(i, len(v) - 1)])


def bootstrap_interval(differences, *, confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Interval:
    """The percentile bootstrap interval for the mean of paired differences (see
    :func:`bootstrap_distribution`). Few seeds make it too narrow (it cannot be wider than the
    values' range): the reports show it beside the t interval, whose verdicts they use."""
    d = _values("differences", differences)
    c = _confidence(confidence)
    n, mean = len(d), float(d.mean())
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n, math.nan, math.nan, math.nan, c, "paired bootstrap")
    means, probs = bootstrap_distribution(d, seed=seed)
    lo = weighted_quantile(means, probs, (1 - c) / 2)
    hi = weighted_quantile(means, probs, 1 - (1 - c) / 2)
    sd = float(d.std(ddof=1))
    return Interval(mean, lo, hi, n, sd, sd / math.sqrt(n), math.nan, c, "paired bootstrap")

"""Verdicts: what the seeds run establish about a claim, and what they do not.

A claim compares two arms (e.g. EL2N at 40% pruned against full data) on accuracy, in percentage
points, and says one of five things about the difference ``A - B``:

=============  ======================================  =================================  ==============================
kind           the claim                               established when (one-sided, α)    refuted when
=============  ======================================  =================================  ==============================
``equivalent`` A matches B: ``|A - B| < margin``       TOST: both ``> -m`` and ``< +m``   ``A - B`` beyond ``±m`` (the side of the mean)
``better``     A is better: ``A - B > 0``              ``A - B > 0``                      ``A - B < 0``
``worse``      A is worse: ``A - B < 0``               ``A - B < 0``                      ``A - B > 0``
``not-worse``  A loses under m: ``A - B > -margin``    ``A - B > -m``                     ``A - B < -m``
``not-better`` A gains under m: ``A - B < margin``     ``A - B < +m``                     ``A - B > +m``
=============  ======================================  =================================  ==============================

Each test is a one-sided t test at level α (default 0.05) on the per-seed differences when the arms
share training seeds (paired), else Welch's. So every verdict can be read off its interval, the
two-sided (1 − 2α) = 90% t interval: "equivalent" is established exactly when that interval lies
inside ±margin, "better" when it lies above 0. When one report states several claims,
:func:`judge` Holm-adjusts their p-values (establishing and refuting separately), so a claim whose
interval just clears its bound can still be *not established*.

A verdict is *established*, *refuted* or *not established*; the last comes with the seeds that
would settle the claim if the mean and spread stayed as observed (:func:`datadiet.stats.hypotheses.seeds_needed`).
Fewer than :data:`MIN_SEEDS` seeds per arm never settle a claim either way: with two seeds the
spread rests on one degree of freedom and the bootstrap has three distinct means, so a verdict would
rest on the normality assumption alone. The interval is still shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from datadiet.errors import DataDietError
from datadiet.stats.hypotheses import (
    DEFAULT_ALPHA,
    DEFAULT_MARGIN,
    _p_greater,
    _p_less,
    _t_stats,
    _welch_stats,
    check_alpha,
    check_margin,
    holm,
    seeds_needed,
)
from datadiet.stats.intervals import _values, bootstrap_interval, t_interval, welch_interval

ESTABLISHED, NOT_ESTABLISHED, REFUTED = "established", "not established", "refuted"
MIN_SEEDS = 3  # seeds per arm below which no claim is settled

# kind -> ((bound in margins, side) that establishes it, (bound, side) that refutes it); side "above":
# the difference is shown to exceed the bound, "below": to fall short of it. None: the side of the mean.
KINDS = {
    "equivalent": (None, None),
    "better": ((0, "above"), (0, "below")),
    "worse": ((0, "below"), (0, "above")),
    "not-worse": ((-1, "above"), (-1, "below")),
    "not-better": ((1, "below"), (1, "above")),
}


@dataclass(frozen=True)
class Claim:
    """A claim about ``A - B`` (see the module docstring for ``kind``). Give either ``differences``
    (paired by training seed) or the two unpaired samples ``a`` and ``b``; all in percentage points."""

    text: str
    kind: str
    differences: tuple[float, ...] | None = None
    a: tuple[float, ...] | None = None
    b: tuple[float, ...] | None = None
    margin: float = DEFAULT_MARGIN
    extra: dict = field(default_factory=dict, compare=False)  # carried into the verdict's dict as is

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DataDietError(f"claim kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        check_margin(self.margin)
        if (self.differences is None) == (self.a is None or self.b is None):
            raise DataDietError("a claim needs either paired differences or both unpaired samples a and b")

    @property
    def paired(self) -> bool:
        return self.differences is not None


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim: ``verdict`` (established / not established / refuted), the mean
    difference and its (1 − 2α) interval, the bootstrap interval of the same confidence (paired only),
    ``n`` (pairs, or the smaller arm), the one-sided p-values for establishing and refuting it (raw and
    Holm-adjusted within the report's claims) and ``seeds_needed`` (None when established, refuted, not
    computable or above 1000)."""

    claim: str
    kind: str
    verdict: str
    estimate: float
    low: float
    high: float
    confidence: float
    n: int
    design: str
    margin: float
    p_establish: float
    p_refute: float
    p_establish_adjusted: float
    p_refute_adjusted: float
    seeds_needed: int | None
    bootstrap_low: float | None = None
    bootstrap_high: float | None = None
    settles_as: str | None = None  # what seeds_needed more seeds would likely make of it: established or refuted
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def established(self) -> bool:
        return self.verdict == ESTABLISHED

    def as_dict(self) -> dict:
        """Plain JSON-ready values (infinite bounds as None)."""

        def num(x):
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "claim": self.claim,
            "kind": self.kind,
            "verdict": self.verdict,
            "estimate": num(self.estimate),
            "interval": [num(self.low), num(self.high)],
            "confidence": self.confidence,
            "bootstrap_interval": [num(self.bootstrap_low), num(self.bootstrap_high)],
            "n": self.n,
            "design": self.design,
            "margin": self.margin,
            "p_establish": num(self.p_establish),
            "p_refute": num(self.p_refute),
            "p_establish_adjusted": num(self.p_establish_adjusted),
            "p_refute_adjusted": num(self.p_refute_adjusted),
            "seeds_needed": self.seeds_needed,
            "settles_as": self.settles_as,
            **self.extra,
        }


@dataclass(frozen=True)
class _Measured:
    mean: float
    se: float
    df: float
    sd: float
    n: int
    interval: tuple[float, float]
    boot: tuple[float | None, float | None]


def _measure(claim: Claim, alpha: float) -> _Measured:
    conf = 1 - 2 * alpha
    if claim.paired:
        d = _values("differences", claim.differences)
        iv = t_interval(d, confidence=conf)
        if len(d) < 2:
            return _Measured(iv.estimate, math.nan, math.nan, math.nan, 1, (iv.low, iv.high), (None, None))
        mean, se, df = _t_stats(d)
        boot = bootstrap_interval(d, confidence=conf)
        return _Measured(mean, se, df, iv.sd, len(d), (iv.low, iv.high), (boot.low, boot.high))
    a, b = _values("a", claim.a), _values("b", claim.b)
    n = min(len(a), len(b))
    if n < 2:
        mean = float(a.mean() - b.mean())
        return _Measured(mean, math.nan, math.nan, math.nan, n, (-math.inf, math.inf), (None, None))
    mean, se, df = _welch_stats(a, b)
    iv = welch_interval(a, b, confidence=conf)
    return _Measured(mean, se, df, iv.sd, n, (iv.low, iv.high), (None, None))


def _p(m: _Measured, bound: float, side: str) -> float:
    if m.n < 2:
        return 1.0
    return _p_greater(m.mean, m.se, m.df, bound) if side == "above" else _p_less(m.mean, m.se, m.df, bound)


def _tests(claim: Claim, m: _Measured) -> tuple[float, float, tuple[float, str], bool]:
    """(p of establishing, p of refuting, the (bound, side) whose test would settle it as observed,
    whether that settles it by establishing it)."""
    mg = claim.margin
    if claim.kind == "equivalent":
        p_est = max(_p(m, -mg, "above"), _p(m, mg, "below"))
        p_ref = _p(m, mg, "above") if m.mean >= 0 else _p(m, -mg, "below")
        if abs(m.mean) < mg:
            return p_est, p_ref, ((mg, "below") if m.mean >= 0 else (-mg, "above")), True
        return p_est, p_ref, ((mg, "above") if m.mean >= 0 else (-mg, "below")), False
    (eb, es), (rb, rs) = KINDS[claim.kind]
    p_est, p_ref = _p(m, eb * mg, es), _p(m, rb * mg, rs)
    toward_established = (m.mean > eb * mg) if es == "above" else (m.mean < eb * mg)
    return p_est, p_ref, ((eb * mg, es) if toward_established else (rb * mg, rs)), toward_established


def _seeds_to_settle(m: _Measured, bound: float, side: str, alpha: float, tests, adjusted) -> int | None:
    """Seeds at which the claim would be settled at the observed mean and spread, at the level its
    Holm rank asks of it (alpha times its raw over adjusted p-value), and always more than it has."""
    if m.n < 2:
        return None
    raw, adj = (tests[0], adjusted[0]) if tests[3] else (tests[1], adjusted[1])
    level = alpha * raw / adj if adj > 0 and raw > 0 else alpha
    need = seeds_needed(m.mean, m.sd, bound=bound, side=side, alpha=min(alpha, max(level, 1e-12)))
    return None if need is None else max(need, MIN_SEEDS, m.n + 1)


def judge(claims: Sequence[Claim], *, alpha: float = DEFAULT_ALPHA) -> list[Verdict]:
    """The verdicts on the claims of one report, Holm-adjusted across them (see the module docstring)."""
    a = check_alpha(alpha)
    claims = list(claims)
    if not claims:
        return []
    measured = [_measure(c, a) for c in claims]
    tests = [_tests(c, m) for c, m in zip(claims, measured)]
    p_est = np.array([t[0] for t in tests])
    p_ref = np.array([t[1] for t in tests])
    adj_est, adj_ref = holm(p_est), holm(p_ref)
    out = []
    for i, (c, m) in enumerate(zip(claims, measured)):
        settles = None
        if m.n >= MIN_SEEDS and adj_est[i] < a:
            verdict, need = ESTABLISHED, None
        elif m.n >= MIN_SEEDS and adj_ref[i] < a:
            verdict, need = REFUTED, None
        else:
            bound, side = tests[i][2]
            verdict = NOT_ESTABLISHED
            need = _seeds_to_settle(m, bound, side, a, tests[i], (adj_est[i], adj_ref[i]))
            settles = None if need is None else (ESTABLISHED if tests[i][3] else REFUTED)
        out.append(
            Verdict(
                claim=c.text,
                kind=c.kind,
                verdict=verdict,
                estimate=m.mean,
                low=m.interval[0],
                high=m.interval[1],
                confidence=1 - 2 * a,
                n=m.n,
                design="paired" if c.paired else "welch",
                margin=c.margin,
                p_establish=float(p_est[i]),
                p_refute=float(p_ref[i]),
                p_establish_adjusted=float(adj_est[i]),
                p_refute_adjusted=float(adj_ref[i]),
                seeds_needed=need,
                bootstrap_low=m.boot[0],
                bootstrap_high=m.boot[1],
                settles_as=settles,
                extra=dict(c.extra),
            )
        )
    return out

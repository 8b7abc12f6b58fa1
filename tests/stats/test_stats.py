"""The statistics core against reference implementations (scipy, statsmodels) on fixed data, to 1e-9."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from datadiet.errors import DataDietError
from datadiet.stats import (
    ESTABLISHED,
    MIN_SEEDS,
    NOT_ESTABLISHED,
    REFUTED,
    Claim,
    bootstrap_interval,
    holm,
    judge,
    p_greater,
    p_less,
    paired_differences,
    seeds_needed,
    t_interval,
    tost,
    tost_welch,
    welch_interval,
    welch_p_greater,
    welch_p_less,
)

weightstats = pytest.importorskip("statsmodels.stats.weightstats")
multitest = pytest.importorskip("statsmodels.stats.multitest")

# the audit's numbers: EL2N-proxy at 40% pruned minus full data, paired by training seed (points)
AUDIT = np.array([0.28, -0.21, 0.05])
D = np.array([0.31, -0.12, 0.44, 0.05, 0.18, -0.02, 0.27])
A = np.array([91.2, 91.6, 90.9, 91.4, 91.1])
B = np.array([91.5, 91.9, 91.8, 91.3, 92.0, 91.7, 91.6])
TOL = 1e-9


def test_t_interval_matches_scipy_and_statsmodels():
    for conf in (0.9, 0.95):
        iv = t_interval(D, confidence=conf)
        ref = sps.ttest_1samp(D, 0).confidence_interval(conf)
        assert iv.low == pytest.approx(ref.low, abs=TOL) and iv.high == pytest.approx(ref.high, abs=TOL)
        lo, hi = weightstats.DescrStatsW(D).tconfint_mean(alpha=1 - conf)
        assert (iv.low, iv.high) == pytest.approx((lo, hi), abs=TOL)
        assert iv.estimate == pytest.approx(D.mean(), abs=TOL) and iv.n == len(D)


def test_the_audit_interval_is_reproduced():
    iv = t_interval(AUDIT)
    assert (round(iv.estimate, 2), round(iv.low, 2), round(iv.high, 2)) == (0.04, -0.57, 0.65)


def test_one_difference_gives_an_unbounded_interval():
    iv = t_interval([0.3])
    assert iv.estimate == 0.3 and iv.low == -math.inf and iv.high == math.inf and not iv.finite


def test_welch_interval_matches_statsmodels_and_scipy():
    for conf in (0.9, 0.95):
        iv = welch_interval(A, B, confidence=conf)
        cm = weightstats.CompareMeans(weightstats.DescrStatsW(A), weightstats.DescrStatsW(B))
        lo, hi = cm.tconfint_diff(alpha=1 - conf, usevar="unequal")
        assert (iv.low, iv.high) == pytest.approx((lo, hi), abs=TOL)
        ref = sps.ttest_ind(A, B, equal_var=False).confidence_interval(conf)
        assert (iv.low, iv.high) == pytest.approx((ref.low, ref.high), abs=TOL)


def test_one_sided_paired_tests_match_scipy():
    for bound in (-0.3, 0.0, 0.3):
        assert p_greater(D, bound) == pytest.approx(sps.ttest_1samp(D, bound, alternative="greater").pvalue, abs=TOL)
        assert p_less(D, bound) == pytest.approx(sps.ttest_1samp(D, bound, alternative="less").pvalue, abs=TOL)


def test_one_sided_welch_tests_match_statsmodels():
    for bound in (-0.5, 0.0, 0.2):
        ref = weightstats.ttest_ind(A, B, alternative="larger", usevar="unequal", value=bound)[1]
        assert welch_p_greater(A, B, bound) == pytest.approx(ref, abs=TOL)
        ref = weightstats.ttest_ind(A, B, alternative="smaller", usevar="unequal", value=bound)[1]
        assert welch_p_less(A, B, bound) == pytest.approx(ref, abs=TOL)


def test_tost_matches_statsmodels():
    full = np.array([90.0, 90.5, 89.8, 90.2, 90.1, 90.4, 89.9])
    pruned = full + D
    for margin in (0.2, 0.3, 0.5):
        ref = weightstats.ttost_paired(pruned, full, -margin, margin)[0]
        assert tost(D, margin=margin) == pytest.approx(ref, abs=TOL)
        ref = weightstats.ttost_ind(A, B, -margin, margin, usevar="unequal")[0]
        assert tost_welch(A, B, margin=margin) == pytest.approx(ref, abs=TOL)


def test_tost_is_the_ninety_percent_interval_inside_the_margin():
    iv = t_interval(D, confidence=0.9)
    for margin in np.linspace(0.05, 0.8, 31):
        inside = -margin < iv.low and iv.high < margin
        assert (tost(D, margin=margin) < 0.05) == inside


def test_holm_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04])
    assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1], abs=TOL)
    assert holm([]).size == 0
    with pytest.raises(DataDietError, match="pvalues must be in"):
        holm([0.1, 1.2])


def _naive_bootstrap_quantiles(d, conf):
    means = [np.mean(d[list(idx)]) for idx in itertools.product(range(len(d)), repeat=len(d))]
    q = (1 - conf) / 2
    return np.quantile(means, q, method="inverted_cdf"), np.quantile(means, 1 - q, method="inverted_cdf")


@pytest.mark.parametrize("d", [AUDIT, np.array([0.3, -0.1, 0.2, 0.5]), np.array([1.0, 0.2, -0.4, 0.9, 0.1])])
def test_exact_bootstrap_equals_every_resample_enumerated(d):
    for conf in (0.9, 0.95):
        iv = bootstrap_interval(d, confidence=conf)
        lo, hi = _naive_bootstrap_quantiles(d, conf)
        assert (iv.low, iv.high) == pytest.approx((lo, hi), abs=TOL)


def test_monte_carlo_bootstrap_is_seeded_and_close_to_scipy():
    d = np.random.default_rng(3).normal(0.2, 0.4, size=14)  # too many seeds to enumerate
    a, b = bootstrap_interval(d, seed=1), bootstrap_interval(d, seed=1)
    assert (a.low, a.high) == (b.low, b.high)
    ref = sps.bootstrap((d,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(0))
    ref = ref.confidence_interval
    assert a.low == pytest.approx(ref.low, abs=0.02) and a.high == pytest.approx(ref.high, abs=0.02)


def _sample(mean, sd, n):
    z = np.linspace(-1, 1, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


@pytest.mark.parametrize(
    "mean,sd,bound,side", [(0.1, 0.25, 0.3, "below"), (0.7, 0.5, 0.0, "above"), (-0.2, 0.3, 0.3, "below")]
)
def test_seeds_needed_is_the_first_n_whose_t_test_rejects(mean, sd, bound, side):
    n = seeds_needed(mean, sd, bound=bound, side=side)
    alt = "less" if side == "below" else "greater"

    def p(k):
        return sps.ttest_1samp(_sample(mean, sd, k), bound, alternative=alt).pvalue

    assert n is not None and p(n) < 0.05
    assert n == 2 or p(n - 1) >= 0.05


def test_seeds_needed_is_none_on_the_wrong_side():
    assert seeds_needed(0.4, 0.2, bound=0.3, side="below") is None
    assert seeds_needed(0.0, 0.2, bound=0.0, side="above") is None


def test_paired_differences_pair_by_seed():
    d, seeds = paired_differences({0: 0.9, 1: 0.8, 3: 0.7}, {3: 0.5, 1: 0.85, 2: 0.1})
    assert seeds == [1, 3] and d == pytest.approx([-0.05, 0.2])


# ---- verdicts -------------------------------------------------------------------------------------


def test_equivalence_established_only_when_the_interval_is_inside_the_margin():
    tight = [0.02, -0.05, 0.04, 0.01, -0.03]
    (v,) = judge([Claim("tight", "equivalent", differences=tuple(tight))])
    assert v.verdict == ESTABLISHED and -0.3 < v.low and v.high < 0.3 and v.seeds_needed is None
    (v,) = judge([Claim("audit", "equivalent", differences=tuple(AUDIT))])
    assert v.verdict == NOT_ESTABLISHED and v.low < -0.3 and v.seeds_needed is not None
    assert (round(v.estimate, 2), v.n, v.confidence) == (0.04, 3, 0.9)
    # the seeds advertised would settle it if mean and spread held
    k = v.seeds_needed
    assert t_interval(_sample(v.estimate, AUDIT.std(ddof=1), k), confidence=0.9).high < 0.3
    far = [-1.1, -0.9, -1.3, -1.0]
    (v,) = judge([Claim("far", "equivalent", differences=tuple(far))])
    assert v.verdict == REFUTED and v.high < -0.3


def test_better_and_worse_and_margins():
    up = (1.7, 1.4, 2.0, 1.6)
    vs = judge(
        [
            Claim("better", "better", differences=up),
            Claim("worse", "worse", differences=up),
            Claim("not worse", "not-worse", differences=up),
            Claim("not better", "not-better", differences=up),
        ]
    )
    assert [v.verdict for v in vs] == [ESTABLISHED, REFUTED, ESTABLISHED, REFUTED]


def test_two_seeds_never_settle_a_claim():
    (v,) = judge([Claim("two", "equivalent", differences=(0.01, 0.02))])
    assert v.verdict == NOT_ESTABLISHED and v.n == 2 < MIN_SEEDS and v.seeds_needed == MIN_SEEDS
    (v,) = judge([Claim("one", "better", differences=(2.0,))])
    assert v.verdict == NOT_ESTABLISHED and v.seeds_needed is None and v.as_dict()["interval"] == [None, None]


def test_holm_can_unsettle_a_borderline_claim():
    borderline = tuple(_sample(0.3, 0.3, 6))  # one-sided p just under 0.05 on its own
    alone = p_greater(borderline, 0)
    assert alone < 0.05
    (v,) = judge([Claim("alone", "better", differences=borderline)])
    assert v.verdict == ESTABLISHED
    others = [Claim(f"noise {i}", "better", differences=(0.1, -0.1, 0.05, -0.02)) for i in range(3)]
    v = judge([Claim("in a family", "better", differences=borderline), *others])[0]
    assert v.p_establish == pytest.approx(alone) and v.p_establish_adjusted > 0.05 and v.verdict == NOT_ESTABLISHED


def test_unpaired_claims_use_welch():
    (v,) = judge([Claim("welch", "worse", a=tuple(A), b=tuple(B))])
    iv = welch_interval(A, B, confidence=0.9)
    assert v.design == "welch" and (v.low, v.high) == pytest.approx((iv.low, iv.high), abs=TOL)
    assert v.p_establish == pytest.approx(welch_p_less(A, B), abs=TOL)


def test_bad_claims_are_refused():
    with pytest.raises(DataDietError, match="claim kind must be one of"):
        Claim("x", "similar", differences=(0.1,))
    with pytest.raises(DataDietError, match="either paired differences or both"):
        Claim("x", "better")
    with pytest.raises(DataDietError, match="margin must be"):
        Claim("x", "equivalent", differences=(0.1, 0.2), margin=0)
    with pytest.raises(DataDietError, match="must be finite"):
        judge([Claim("x", "better", differences=(0.1, float("nan")))])


def test_spearman_verdict_interval_is_fisher_z_with_bonett_wright_and_covers():
    from scipy.stats import spearmanr

    from datadiet.stats import spearman_verdict

    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    y = x + rng.normal(size=20)
    c = spearman_verdict("x predicts y", x, y)
    rho = spearmanr(x, y).statistic
    se = np.sqrt((1 + rho**2 / 2) / 17)
    z = np.arctanh(rho)
    assert c.rho == pytest.approx(rho, abs=1e-12)
    assert (c.low, c.high) == pytest.approx(
        (np.tanh(z - 1.6448536269514722 * se), np.tanh(z + 1.6448536269514722 * se)), abs=1e-9
    )
    assert c.verdict == "established" and c.low > 0 and c.p < 0.05
    assert spearman_verdict("x predicts y", x, -y).verdict == "refuted"
    assert spearman_verdict("x predicts y", x, y, side="negative").verdict == "refuted"
    assert spearman_verdict("too few", x[:4], y[:4]).verdict == "not established"
    # coverage of the 90% interval for a true rank correlation, by simulation (normal data, n = 15)
    rho_s = 6 / np.pi * np.arcsin(0.6 / 2)  # Spearman's rho of a bivariate normal with r = 0.6
    cov = np.array([[1, 0.6], [0.6, 1]])
    hits = 0
    for _ in range(400):
        xy = rng.multivariate_normal([0, 0], cov, size=15)
        c = spearman_verdict("", xy[:, 0], xy[:, 1])
        hits += c.low <= rho_s <= c.high
    assert 0.84 <= hits / 400 <= 0.97


def test_spearman_verdict_refuses_bad_input():
    from datadiet.errors import DataDietError
    from datadiet.stats import spearman_verdict

    with pytest.raises(DataDietError, match="same length"):
        spearman_verdict("", [1, 2, 3], [1, 2])
    with pytest.raises(DataDietError, match="finite"):
        spearman_verdict("", [1, 2, np.nan, 4, 5], [1, 2, 3, 4, 5])
    with pytest.raises(DataDietError, match="side"):
        spearman_verdict("", [1, 2, 3, 4, 5], [1, 2, 3, 4, 5], side="up")

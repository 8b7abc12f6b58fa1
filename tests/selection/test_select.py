import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from datadiet.errors import DataDietError
from datadiet.selection import STRATEGIES, ccs_allocate, kept_per_class, select, storage_report

# ---------------------------------------------------------------- naive references (pure Python)


def ref_order(s, hardest_first=True, seed=0, rng=None):
    """The documented policy: by score, ties in the order of a random permutation drawn from the seed."""
    perm = (rng if rng is not None else np.random.default_rng(seed)).permutation(len(s)).tolist()
    tie_rank = {i: r for r, i in enumerate(perm)}
    return sorted(range(len(s)), key=lambda i: (-s[i] if hardest_first else s[i], tie_rank[i]))


def ref_hardest(s, k, seed=0, rng=None):
    return sorted(ref_order(s, True, seed, rng)[:k])


def ref_easiest(s, k, seed=0):
    return sorted(ref_order(s, False, seed)[:k])


def ref_window(s, off, k, seed=0):
    return sorted(ref_order(s, True, seed)[off : off + k])


def ref_round(f, n):
    # round half up, exact on the decimal value the test writes
    return math.floor(Fraction(str(f)) * n + Fraction(1, 2))


def ref_strata(vals, bins):
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return [0] * len(vals)
    return [min(int((v - lo) / (hi - lo) * bins), bins - 1) for v in vals]


def ref_allocate(budget, counts):
    nonempty = sorted((c, b) for b, c in enumerate(counts) if c > 0)
    out = [0] * len(counts)
    for j, (c, b) in enumerate(nonempty):
        out[b] = min(c, budget // (len(nonempty) - j))
        budget -= out[b]
    return out


def ref_largest_remainder(k, sizes):
    n = sum(sizes)
    quotas = [Fraction(k * z, n) for z in sizes]
    base = [math.floor(q) for q in quotas]
    order = sorted(range(len(sizes)), key=lambda c: (-(quotas[c] - base[c]), c))
    for c in order[: k - sum(base)]:
        base[c] += 1
    return base


def tied_scores(n, seed=0, levels=5):
    return np.random.default_rng(seed).integers(0, levels, n).astype(float)


def assert_valid(idx, n):
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64 and idx.ndim == 1
    assert np.all(np.diff(idx) > 0)  # sorted and unique
    assert idx.size == 0 or (idx.min() >= 0 and idx.max() < n)


# ---------------------------------------------------------------- deterministic strategies


@pytest.mark.parametrize("n,k", [(1, 1), (7, 3), (50, 17), (200, 123)])
@pytest.mark.parametrize("levels", [3, 1000])
def test_hardest_and_easiest_match_reference(n, k, levels):
    s = tied_scores(n, seed=n, levels=levels)
    got_h = select(s, keep=k)
    got_e = select(s, keep=k, strategy="easiest")
    assert_valid(got_h, n)
    assert_valid(got_e, n)
    assert got_h.tolist() == ref_hardest(s.tolist(), k)
    assert got_e.tolist() == ref_easiest(s.tolist(), k)


@pytest.mark.parametrize("off,k", [(0, 5), (3, 5), (10, 30), (35, 5), (0, 40)])
def test_window_matches_reference_and_skips_exactly_offset(off, k):
    s = tied_scores(40, seed=1)
    got = select(s, keep=k, strategy="window", offset=off)
    assert_valid(got, 40)
    assert got.tolist() == ref_window(s.tolist(), off, k)
    top = set(ref_hardest(s.tolist(), off))
    assert top.isdisjoint(got.tolist())
    assert sorted(top | set(got.tolist())) == ref_hardest(s.tolist(), off + k)


def test_window_fractional_offset_and_zero_offset_equals_hardest():
    s = np.linspace(0, 1, 20)
    assert select(s, keep=0.25, strategy="window", offset=0.25).tolist() == list(range(10, 15))
    assert select(s, keep=5, strategy="window").tolist() == select(s, keep=5).tolist()


@pytest.mark.parametrize(
    "strategy,kw", [("hardest", {}), ("easiest", {}), ("window", {"offset": 10}), ("ccs", {"hard_cutoff": 0.1})]
)
def test_ties_are_broken_by_a_seeded_random_order_not_by_index(strategy, kw):
    s = np.ones(100)
    kept = [select(s, keep=20, strategy=strategy, seed=seed, **kw) for seed in range(200)]
    assert kept[0].tolist() != list(range(20)) and kept[0].tolist() != list(range(10, 30))
    assert np.array_equal(kept[0], select(s, keep=20, strategy=strategy, seed=0, **kw))  # reproducible
    assert not np.array_equal(kept[0], kept[1])  # another seed, another draw
    freq = np.bincount(np.concatenate(kept), minlength=100) / 200
    assert abs(freq.mean() - 0.2) < 1e-12 and freq.min() > 0.05 and freq.max() < 0.4  # every index, evenly
    assert abs(np.concatenate(kept).mean() - 49.5) < 3  # not biased toward the start of the file


def test_ties_on_a_class_sorted_file_do_not_favour_the_first_classes():
    labels = np.repeat(np.arange(5), 40)  # a class-sorted npz
    s = np.concatenate([np.full(100, 2.0), np.full(100, 2.0)])
    counts = np.bincount(labels[select(s, keep=0.5, seed=3)], minlength=5)
    assert counts.min() >= 10, counts  # index order would keep classes 0-2 only (40, 40, 20, 0, 0)


def test_ties_respect_score_order_first():
    s = np.array([5.0, 1.0, 5.0, 1.0, 3.0])
    for seed in range(20):
        assert select(s, keep=1, seed=seed).tolist() in ([0], [2])
        assert select(s, keep=2, seed=seed).tolist() == [0, 2]
        assert select(s, keep=3, seed=seed).tolist() == [0, 2, 4]
        assert select(s, keep=1, strategy="easiest", seed=seed).tolist() in ([1], [3])
        assert select(s, keep=1, strategy="window", offset=2, seed=seed).tolist() == [4]
    # -0.0 and 0.0 tie too: each is kept for some seed
    assert {tuple(select(np.array([0.0, -0.0]), keep=1, seed=seed).tolist()) for seed in range(20)} == {(0,), (1,)}


# ---------------------------------------------------------------- keep: fraction vs count, rounding


def test_fraction_and_count_agree():
    s = tied_scores(10, seed=2, levels=100)
    for strategy in ("hardest", "easiest", "random", "ccs"):
        assert select(s, keep=0.3, strategy=strategy).tolist() == select(s, keep=3, strategy=strategy).tolist()
    assert select(s, keep=np.float32(0.5)).size == 5
    assert select(s, keep=np.int64(4)).size == 4


@pytest.mark.parametrize("n,f", [(10, 0.25), (10, 0.24), (3, 0.5), (10, 0.15), (7, 0.5), (1, 0.5), (1000, 0.3333)])
def test_rounding_is_half_up(n, f):
    s = np.arange(n, dtype=float)
    assert select(s, keep=f).size == ref_round(f, n)


def test_rounding_examples():
    assert select(np.arange(10.0), keep=0.25).size == 3  # 2.5 -> 3
    assert select(np.arange(3.0), keep=0.5).size == 2  # 1.5 -> 2
    assert select(np.arange(10.0), keep=0.24).size == 2  # 2.4 -> 2


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_keep_zero_is_empty_int64_and_keep_one_is_all(strategy):
    s = tied_scores(30, seed=3)
    empty = select(s, keep=0, strategy=strategy)
    assert empty.dtype == np.int64 and empty.shape == (0,)
    assert select(s, keep=0.0, strategy=strategy).shape == (0,)
    assert select(s, keep=1.0, strategy=strategy).tolist() == list(range(30))
    assert select(s, keep=30, strategy=strategy).tolist() == list(range(30))
    assert select(s, keep=1, strategy=strategy).size == 1  # int 1 is a count
    labels = np.arange(30) % 3
    assert select(s, keep=0, strategy=strategy, labels=labels, balanced=True).dtype == np.int64
    assert select(s, keep=1.0, strategy=strategy, labels=labels, balanced=True).tolist() == list(range(30))


def test_accepts_integer_scores_and_lists():
    assert select([3, 1, 2], keep=1).tolist() == [0]


# ---------------------------------------------------------------- random


def test_random_deterministic_by_seed_differs_across_seeds_and_ignores_values():
    s = tied_scores(100, seed=4)
    a = select(s, keep=30, strategy="random", seed=7)
    assert_valid(a, 100)
    assert a.size == 30
    assert np.array_equal(a, select(s, keep=30, strategy="random", seed=7))
    assert not np.array_equal(a, select(s, keep=30, strategy="random", seed=8))
    assert np.array_equal(a, select(-s * 3 + 1, keep=30, strategy="random", seed=7))


# ---------------------------------------------------------------- balanced


def test_balanced_per_class_counts_exact_and_total_exact():
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1, 2, 5], [13, 7, 29, 1])
    rng.shuffle(labels)
    s = tied_scores(50, seed=6)
    sizes = [13, 7, 29, 1]
    for keep in (0, 1, 3, 0.1, 0.33, 0.5, 27, 49, 1.0):
        k = keep if isinstance(keep, int) else ref_round(keep, 50)
        expect = ref_largest_remainder(k, sizes)
        for strategy in ("hardest", "easiest", "random", "ccs", "window"):
            got = select(s, keep=keep, strategy=strategy, labels=labels, balanced=True)
            assert_valid(got, 50)
            assert got.size == k
            assert [int(np.sum(labels[got] == c)) for c in (0, 1, 2, 5)] == expect


def test_balanced_hardest_is_per_class_hardest():
    labels = np.arange(60) % 4
    s = tied_scores(60, seed=7)
    got = select(s, keep=0.5, labels=labels, balanced=True, seed=5)
    expect = []
    rng = np.random.default_rng(5)  # one generator, classes visited in ascending label order
    for c in range(4):
        members = np.flatnonzero(labels == c).tolist()
        sub = [s[i] for i in members]
        expect += [members[j] for j in ref_hardest(sub, 15 // 2 + (1 if c < 2 else 0), rng=rng)]
    # 30 over 4 classes of 15: quotas 7.5 each -> two classes get 8 (lower labels first)
    assert got.tolist() == sorted(expect)


def test_balanced_window_applies_offset_per_class_as_fraction():
    labels = np.repeat([0, 1], [20, 10])
    s = np.concatenate([np.arange(20.0)[::-1], np.arange(10.0)[::-1]])  # within a class, index order = hardness
    got = select(s, keep=0.2, strategy="window", offset=0.5, labels=labels, balanced=True)
    assert got.tolist() == list(range(10, 14)) + [20 + 5, 20 + 6]
    # a count offset is the same fraction of N
    assert select(s, keep=6, strategy="window", offset=15, labels=labels, balanced=True).tolist() == got.tolist()


def test_balanced_differs_from_global_on_skewed_scores():
    labels = np.repeat([0, 1], [10, 10])
    s = np.concatenate([np.full(10, 9.0), np.zeros(10)])
    assert select(s, keep=10).tolist() == list(range(10))
    got = select(s, keep=10, labels=labels, balanced=True)
    assert np.bincount(labels[got]).tolist() == [5, 5]


# ---------------------------------------------------------------- CCS


def ccs_case():
    rng = np.random.default_rng(8)
    # skewed scores with an empty gap in the range, so some strata are empty
    return np.concatenate([rng.exponential(1.0, 300), rng.uniform(8, 10, 20)])


def test_ccs_drops_hard_cutoff_and_returns_requested_count():
    s = ccs_case()
    n_cut = ref_round(0.1, s.size)
    hardest = set(ref_hardest(s.tolist(), n_cut))
    for k in (1, 10, 50, 200, s.size - n_cut):
        got = select(s, keep=k, strategy="ccs", hard_cutoff=0.1, bins=20, seed=1)
        assert_valid(got, s.size)
        assert got.size == k
        assert hardest.isdisjoint(got.tolist())


def test_ccs_per_stratum_counts_match_reference_and_cover_all_nonempty_strata():
    s = ccs_case()
    bins, cutoff, k = 20, 0.05, 60
    n_cut = ref_round(cutoff, s.size)
    pool = sorted(set(range(s.size)) - set(ref_hardest(s.tolist(), n_cut)))
    strata = dict(zip(pool, ref_strata([s[i] for i in pool], bins)))
    counts = [sum(1 for v in strata.values() if v == b) for b in range(bins)]
    assert 0 < sum(c > 0 for c in counts) < bins  # some strata empty, some not
    budgets = ref_allocate(k, counts)
    assert sum(budgets) == k
    got = select(s, keep=k, strategy="ccs", bins=bins, hard_cutoff=cutoff, seed=3)
    got_counts = [sum(1 for i in got.tolist() if strata[i] == b) for b in range(bins)]
    assert got_counts == budgets
    assert all(g > 0 for g, c in zip(got_counts, counts) if c > 0)


def test_ccs_deterministic_by_seed():
    s = ccs_case()
    a = select(s, keep=80, strategy="ccs", seed=11, hard_cutoff=0.1)
    assert np.array_equal(a, select(s, keep=80, strategy="ccs", seed=11, hard_cutoff=0.1))
    assert not np.array_equal(a, select(s, keep=80, strategy="ccs", seed=12, hard_cutoff=0.1))


def test_ccs_constant_scores_and_allocation_leftover():
    assert select(np.ones(10), keep=4, strategy="ccs").size == 4
    # small strata pass their leftover to larger ones
    assert ccs_allocate(10, [1, 0, 2, 100]).tolist() == [1, 0, 2, 7]
    assert ccs_allocate(10, [100, 100, 100]).tolist() == [3, 3, 4]
    assert ccs_allocate(10, [1, 0, 2, 100]).tolist() == ref_allocate(10, [1, 0, 2, 100])


def test_ccs_balanced_drops_cutoff_per_class():
    labels = np.repeat([0, 1], [40, 20])
    s = np.concatenate([np.arange(40.0), np.arange(20.0) + 100])
    got = select(s, keep=0.5, strategy="ccs", hard_cutoff=0.25, labels=labels, balanced=True, bins=5)
    assert np.bincount(labels[got]).tolist() == [20, 10]
    assert got.max(initial=-1) < 55
    assert set(range(30, 40)).isdisjoint(got.tolist())


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("keep", [1.5, -1, 11, -0.1, True, float("nan"), "0.5", None])
def test_bad_keep_refused_with_one_line_message(keep):
    with pytest.raises(DataDietError) as e:
        select(np.arange(10.0), keep=keep)
    msg = str(e.value)
    assert "keep" in msg and repr(keep) in msg and "\n" not in msg


def test_scores_nan_inf_shape_refused():
    s = np.arange(10.0)
    s[[2, 5]] = np.nan
    with pytest.raises(DataDietError, match=r"scores.*2 NaN"):
        select(s, keep=3)
    with pytest.raises(DataDietError, match=r"scores.*1 infinite"):
        select(np.array([1.0, np.inf, 2.0]), keep=1)
    with pytest.raises(DataDietError, match="scores"):
        select(np.zeros((3, 2)), keep=1)
    with pytest.raises(DataDietError, match="scores"):
        select(np.array([]), keep=0)
    with pytest.raises(DataDietError, match="scores"):
        select(np.array(["a", "b"]), keep=1)


def test_bad_strategy_lists_valid_names():
    with pytest.raises(DataDietError) as e:
        select(np.arange(5.0), keep=1, strategy="median")
    for name in STRATEGIES:
        assert name in str(e.value)


def test_labels_errors():
    s = np.arange(6.0)
    with pytest.raises(DataDietError, match="labels"):
        select(s, keep=2, balanced=True)
    with pytest.raises(DataDietError, match="labels"):
        select(s, keep=2, balanced=True, labels=np.zeros(5, dtype=int))
    with pytest.raises(DataDietError, match="labels"):
        select(s, keep=2, balanced=True, labels=np.zeros((6, 1), dtype=int))
    with pytest.raises(DataDietError, match="labels"):
        select(s, keep=2, balanced=True, labels=np.zeros(6))


def test_option_errors():
    s = np.arange(10.0)
    with pytest.raises(DataDietError, match="offset"):
        select(s, keep=5, strategy="window", offset=6)
    with pytest.raises(DataDietError, match="offset"):
        select(s, keep=0.5, strategy="window", offset=0.6)
    with pytest.raises(DataDietError, match="offset"):
        select(s, keep=5, offset=2)  # offset on a strategy that ignores it
    with pytest.raises(DataDietError, match="hard_cutoff"):
        select(s, keep=5, hard_cutoff=0.1)
    with pytest.raises(DataDietError, match="hard_cutoff"):
        select(s, keep=10, strategy="ccs", hard_cutoff=0.1)
    with pytest.raises(DataDietError, match="hard_cutoff"):
        select(s, keep=1, strategy="ccs", hard_cutoff=1.5)
    with pytest.raises(DataDietError, match="bins"):
        select(s, keep=1, strategy="ccs", bins=0)
    with pytest.raises(DataDietError, match="seed"):
        select(s, keep=1, strategy="random", seed=-1)
    with pytest.raises(TypeError):
        select(s, 0.5)  # keyword-only


# ---------------------------------------------------------------- helpers


def test_kept_per_class_includes_zero_kept_classes():
    labels = np.array([0, 0, 1, 1, 1, 3])
    df = kept_per_class(np.array([0, 2, 3]), labels, class_names=["a", "b", "c", "d"])
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["class", "name", "total", "kept", "kept_fraction"]
    assert df["class"].tolist() == [0, 1, 3]
    assert df["name"].tolist() == ["a", "b", "d"]
    assert df["total"].tolist() == [2, 3, 1]
    assert df["kept"].tolist() == [1, 2, 0]
    assert np.allclose(df["kept_fraction"], [0.5, 2 / 3, 0.0])
    assert kept_per_class([], labels)["name"].tolist() == ["0", "1", "3"]
    with pytest.raises(DataDietError, match="class_names"):
        kept_per_class([0], labels, class_names=["a"])
    with pytest.raises(DataDietError, match="indices"):
        kept_per_class([6], labels)


def test_storage_report():
    rep = storage_report(np.array([1, 4, 7]), 10, 3072)
    assert rep == {"kept": 3, "pruned": 7, "fraction_kept": 0.3, "bytes_kept": 9216, "bytes_saved": 21504}
    assert storage_report([], 4, 2.5)["bytes_saved"] == 10.0
    with pytest.raises(DataDietError, match="indices"):
        storage_report([1, 1], 10, 8)
    with pytest.raises(DataDietError, match="bytes_per_example"):
        storage_report([1], 10, -1)


def test_ranking_agreement_against_a_naive_count():
    from scipy.stats import spearmanr

    from datadiet.selection import ranking_agreement

    rng = np.random.default_rng(0)
    ref = rng.normal(size=200)
    cand = ref + rng.normal(scale=0.5, size=200)
    got = ranking_agreement(ref, cand, keep=(0.2, 0.5))
    assert got["spearman"] == pytest.approx(spearmanr(ref, cand).statistic)
    for f in (0.2, 0.5):  # naive: the k largest of each (no ties here), counted with sets
        k = int(f * 200)
        top_ref, top_cand = set(np.argsort(-ref)[:k]), set(np.argsort(-cand)[:k])
        assert got["overlap"][f] == len(top_ref & top_cand) / k
    same = ranking_agreement(ref, ref, keep=(0.3,))
    assert same["spearman"] == 1.0 and same["overlap"][0.3] == 1.0
    flipped = ranking_agreement(ref, -ref, keep=(0.3,))
    assert flipped["spearman"] == pytest.approx(-1.0) and flipped["overlap"][0.3] == 0.0
    with pytest.raises(DataDietError, match="candidate must have the reference's shape"):
        ranking_agreement(ref, ref[:10])
    with pytest.raises(DataDietError, match="candidate"):
        ranking_agreement(ref, np.full(200, np.nan))

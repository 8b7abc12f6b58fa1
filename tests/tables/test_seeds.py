"""The seeds advisor's tables and sentence: against naive reference computations with Python sets."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from datadiet.errors import DataDietError
from datadiet.reports.seeds import seeds_sentence, seeds_sentences
from datadiet.selection import select
from datadiet.tables.seeds import cheapest_setting, closest_setting, epoch_stability, seed_stability


def _top(x: np.ndarray, f: float) -> set:
    """The kept set, naively: the k largest (continuous scores: no ties), k rounded half up."""
    k = int(np.floor(f * x.size + 0.5))
    return set(np.argsort(-x, kind="stable")[:k].tolist())


def _naive(cand_all, ref_all, m, f, subsets=None):
    """(mean overlap, min overlap, mean rho) of m-seed means against the other seeds (2m <= S) or all S."""
    s = ref_all.shape[0]
    subsets = subsets or list(itertools.combinations(range(s), m))
    overlaps, rhos = [], []
    for sub in subsets:
        cand = cand_all[list(sub)].mean(axis=0)
        others = [i for i in range(s) if i not in sub] if 2 * m <= s else list(range(s))
        ref = ref_all[others].mean(axis=0)
        a, b = _top(ref, f), _top(cand, f)
        overlaps.append(len(a & b) / len(a))
        rhos.append(1.0 if np.array_equal(ref, cand) else spearmanr(ref, cand).statistic)
    return np.mean(overlaps), np.min(overlaps), np.mean(rhos)


def test_hand_computed_two_seeds():
    per_seed = np.array([[0.9, 0.8, 0.1, 0.2], [0.7, 0.1, 0.9, 0.3]])
    t = seed_stability(per_seed, keep=0.5)
    assert list(t["seeds"]) == [1, 2]
    one, two = t.iloc[0], t.iloc[1]
    # seed 0 keeps {0, 1}, seed 1 keeps {0, 2}: half of either kept set is the other's, both ways
    assert (one["comparison"], one["reference_seeds"], one["draws"]) == ("disjoint", 1, 2)
    assert one["overlap_mean"] == one["overlap_min"] == 0.5
    # ranks 4,3,1,2 and 3,1,4,2: sum d^2 = 14, rho = 1 - 6 * 14 / (4 * 15) = -0.4
    assert one["spearman_mean"] == pytest.approx(-0.4)
    assert bool(one["independent"]) and not bool(one["trivial"])
    # both seeds against their own mean: nested, 1 by construction
    assert (two["comparison"], two["reference_seeds"], two["draws"]) == ("nested", 2, 1)
    assert two["overlap_mean"] == 1.0 and two["spearman_mean"] == 1.0
    assert bool(two["trivial"]) and not bool(two["independent"])


def test_every_subset_against_a_naive_reference():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=60)
    per_seed = truth + rng.normal(scale=0.8, size=(6, 60))
    t = seed_stability(per_seed, keep=(0.3, 0.5), counts=(1, 2, 3, 4, 6, 8), draws=100)
    assert sorted(set(t["seeds"])) == [1, 2, 3, 4, 6]  # 8 > the 6 seeds: left out
    for _, r in t.iterrows():
        mean, worst, rho = _naive(per_seed, per_seed, int(r["seeds"]), r["keep"])
        assert r["overlap_mean"] == pytest.approx(mean) and r["overlap_min"] == pytest.approx(worst)
        assert r["spearman_mean"] == pytest.approx(rho)
        assert r["draws"] == len(list(itertools.combinations(range(6), int(r["seeds"]))))
        assert r["comparison"] == ("disjoint" if 2 * r["seeds"] <= 6 else "nested")
        assert r["reference_seeds"] == (6 - r["seeds"] if r["comparison"] == "disjoint" else 6)
    assert t[t["seeds"] == 6]["overlap_mean"].eq(1.0).all()


def test_ties_follow_the_selection_rule():
    per_seed = np.array([[3, 1, 1, 2, 2, 0, 1, 3], [1, 1, 2, 2, 0, 3, 3, 1], [2, 2, 1, 1, 3, 0, 0, 1]], dtype=float)
    for seed in (0, 7):
        t = seed_stability(per_seed, keep=0.5, counts=(1,), seed=seed)
        overlaps = []
        for i in range(3):  # the kept sets as select() keeps them, ties in its seeded order
            ref = per_seed[[j for j in range(3) if j != i]].mean(axis=0)
            a, b = set(select(ref, keep=0.5, seed=seed)), set(select(per_seed[i], keep=0.5, seed=seed))
            overlaps.append(len(a & b) / 4)
        assert t["overlap_mean"].iloc[0] == pytest.approx(np.mean(overlaps))
        assert t["overlap_min"].iloc[0] == min(overlaps)


def test_drawn_subsets_are_distinct_seeded_and_fewer_than_all():
    rng = np.random.default_rng(2)
    per_seed = rng.normal(size=(8, 40))
    t = seed_stability(per_seed, keep=0.5, counts=(1, 4), draws=5, seed=3)
    assert list(t["draws"]) == [5, 5]  # C(8, 1) = 8 and C(8, 4) = 70 exceed 5: drawn
    pd.testing.assert_frame_equal(t, seed_stability(per_seed, keep=0.5, counts=(1, 4), draws=5, seed=3))
    every = [
        len(_top(per_seed[[j for j in range(8) if j != i]].mean(axis=0), 0.5) & _top(per_seed[i], 0.5)) / 20
        for i in range(8)
    ]
    assert min(every) <= t["overlap_min"].iloc[0] <= t["overlap_mean"].iloc[0] <= max(every)
    assert seed_stability(per_seed, keep=0.5, counts=(1,), draws=8)["draws"].iloc[0] == 8  # all of them


def test_epochs_compare_with_the_other_seeds_at_the_last_epoch():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=50)
    late = truth + rng.normal(scale=0.3, size=(4, 50))
    early = late + rng.normal(scale=1.0, size=(4, 50))
    t = epoch_stability({2: late, 0.5: early}, keep=0.4, counts=(1, 2, 4))
    assert list(zip(t["epoch"], t["seeds"])) == [(0.5, 1), (0.5, 2), (0.5, 4), (2, 1), (2, 2), (2, 4)]
    assert set(t["reference_epoch"]) == {2}
    for _, r in t.iterrows():
        cand = early if r["epoch"] == 0.5 else late
        mean, worst, rho = _naive(cand, late, int(r["seeds"]), 0.4)
        assert (r["overlap_mean"], r["overlap_min"]) == (pytest.approx(mean), pytest.approx(worst))
        assert r["spearman_mean"] == pytest.approx(rho)
    trivial = t[t["trivial"]]
    assert list(zip(trivial["epoch"], trivial["seeds"])) == [(2, 4)]  # all seeds at epoch 0.5 are not the reference
    assert t[(t["epoch"] == 0.5) & (t["seeds"] == 4)]["overlap_mean"].iloc[0] < 1


def test_a_given_reference():
    rng = np.random.default_rng(5)
    per_seed, other = rng.normal(size=(3, 30)), rng.normal(size=30)
    t = seed_stability(per_seed, keep=0.5, counts=(1, 3), reference=other)
    assert set(t["comparison"]) == {"given"} and t["independent"].all() and not t["trivial"].any()
    one = np.mean([len(_top(other, 0.5) & _top(per_seed[i], 0.5)) / 15 for i in range(3)])
    assert t["overlap_mean"].iloc[0] == pytest.approx(one)
    assert t["overlap_mean"].iloc[1] == len(_top(other, 0.5) & _top(per_seed.mean(axis=0), 0.5)) / 15


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"per_seed": np.zeros(5)}, "per_seed must be a 2-D array"),
        ({"per_seed": np.array([[0.0, np.nan], [1.0, 2.0]])}, "must be finite"),
        ({"keep": 0.0}, "keep must be in (0, 1)"),
        ({"keep": 1.0}, "keep must be in (0, 1)"),
        ({"keep": 0.01}, "keep=0.01 keeps no example of N=10"),
        ({"counts": (3, 4)}, "counts must include a number of seeds <= the 2 available"),
        ({"draws": 0}, "draws must be > 0"),
        ({"reference": np.zeros(3)}, "reference must have one score per example"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, message):
    args = {"per_seed": np.arange(20.0).reshape(2, 10), **kwargs}
    with pytest.raises(DataDietError, match=message.replace("(", r"\(").replace(")", r"\)")):
        seed_stability(args.pop("per_seed"), **args)
    with pytest.raises(DataDietError, match="same seeds and examples"):
        epoch_stability({1: np.zeros((2, 5)), 2: np.zeros((3, 5))})


def _row(epoch, seeds, overlap, *, total=4, worst=None, comparison=None, keep=0.5):
    comparison = comparison or ("disjoint" if 2 * seeds <= total else "nested")
    return {
        "epoch": epoch,
        "seeds": seeds,
        "keep": keep,
        "comparison": comparison,
        "reference_seeds": total - seeds if comparison == "disjoint" else total,
        "reference_epoch": 2,
        "draws": 4 if seeds == 1 else 6,
        "overlap_mean": overlap,
        "overlap_min": overlap - 0.025 if worst is None else worst,
        "spearman_mean": 0.9,
        "spearman_min": 0.8,
        "independent": comparison != "nested",
        "trivial": comparison == "nested" and seeds == total and epoch == 2,
    }


TABLE = pd.DataFrame(
    [
        _row(1, 1, 0.90),
        _row(1, 2, 0.96),
        _row(1, 4, 0.99),
        _row(2, 1, 0.955, worst=0.93),
        _row(2, 2, 0.97),
        _row(2, 4, 1.0),
    ]
)


def test_the_cheapest_setting_that_reaches_the_target():
    # 1 seed at epoch 2 and 2 seeds at epoch 1 cost the same 2 seed-epochs: fewer seeds wins
    chosen = cheapest_setting(TABLE, keep=0.5, target=0.95)
    assert (chosen["seeds"], chosen["epoch"]) == (1, 2)
    chosen = cheapest_setting(TABLE, keep=0.5, target=0.5)
    assert (chosen["seeds"], chosen["epoch"]) == (1, 1)
    chosen = cheapest_setting(TABLE, keep=0.5, target=0.96)
    assert (chosen["seeds"], chosen["epoch"]) == (2, 1)
    # the nested rows (0.99 and the trivial 1.0) never count
    assert cheapest_setting(TABLE, keep=0.5, target=0.98) is None
    best = closest_setting(TABLE, keep=0.5)
    assert (best["seeds"], best["epoch"]) == (2, 2)
    assert cheapest_setting(TABLE, keep=0.3, target=0.5) is None  # no row at that kept fraction


def test_the_sentence():
    assert seeds_sentence(TABLE, keep=0.5, target=0.95) == (
        "for this data, 1 seed at epoch 2 keeps 95.5% of the same examples as the reference (the mean of the "
        "other 3 of 4 seeds at epoch 2), at 50% kept (mean over 4 draws of disjoint seeds, the worst 93.0%)"
    )
    assert seeds_sentence(TABLE, keep=0.5, target=0.96).startswith(
        "for this data, 2 seeds at epoch 1 keep 96.0% of the same examples as the reference (the mean of the other "
        "2 of 4 seeds at epoch 2), at 50% kept (mean over 6 draws"
    )
    assert seeds_sentence(TABLE, keep=0.5, target=0.98) == (
        "for this data, no cheaper setting keeps 98% of the same examples as the reference at 50% kept; the "
        "closest, 2 seeds at epoch 2, keep 97.0% (the mean of the other 2 of 4 seeds at epoch 2; mean over 6 "
        "draws of disjoint seeds, the worst 94.5%)"
    )
    alone = pd.DataFrame([_row(2, 1, 1.0, total=1)])
    assert seeds_sentence(alone, keep=0.5) == (
        "for this data, no setting can be checked at 50% kept: with 1 seed(s) no disjoint seeds are left to "
        "compare with (score with at least 2 seeds)"
    )
    no_epoch = seed_stability(np.array([[0.9, 0.8, 0.1, 0.2], [0.7, 0.1, 0.9, 0.3]]), keep=(0.5, 0.25))
    said = seeds_sentences(no_epoch, target=0.5)
    assert said[0].startswith(
        "for this data, 1 seed keeps 50.0% of the same examples as the reference (the mean of the other 1 of 2 seeds)"
    )
    assert said[1] == (  # one example kept of 4: seed 0 keeps example 0, seed 1 example 2
        "for this data, no cheaper setting keeps 50% of the same examples as the reference at 25% kept; the "
        "closest, 1 seed, keeps 0.0% (the mean of the other 1 of 2 seeds; mean over 2 draws of disjoint seeds, "
        "the worst 0.0%)"
    )

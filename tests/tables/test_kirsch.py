"""Kirsch's measurement as a table: Spearman's rho of a score against the input norm, overall, per
class and per initialisation, checked against a rank correlation computed by hand."""

import math

import numpy as np
import pytest

from datadiet.errors import DataDietError
from datadiet.tables import norm_correlation, norm_correlation_summary


def naive_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given the average of the ranks they span (argsort, then tie groups by hand)."""
    order = np.argsort(a, kind="stable")
    ranks = np.empty(len(a))
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and a[order[j + 1]] == a[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1  # positions i..j hold ranks i+1..j+1
        i = j + 1
    return ranks


def naive_spearman(a, b) -> float:
    ra, rb = naive_ranks(np.asarray(a, float)), naive_ranks(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / math.sqrt((ra * ra).sum() * (rb * rb).sum()))


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    n = 120
    labels = rng.integers(0, 3, n)
    norms = np.round(rng.gamma(2.0, 1.0, n), 1)  # rounded: ties
    per_init = [np.round(norms * rng.uniform(0.5, 1.5, n) + rng.normal(0, 0.3, n), 1) for _ in range(3)]
    return np.mean(per_init, axis=0), norms, labels, per_init


def test_naive_ranks_average_ties():
    np.testing.assert_array_equal(naive_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4, 1, 4, 2, 4])


def test_rho_overall_and_per_class_match_a_naive_rank_correlation(data):
    scores, norms, labels, per_init = data
    assert len(np.unique(norms)) < len(norms)  # the reference is exercised on ties
    table = norm_correlation(scores, norms, labels, per_init=per_init)
    assert table["class"].tolist() == ["all", "0", "1", "2"]
    masks = [np.ones(len(labels), bool)] + [labels == c for c in range(3)]
    for (_, row), m in zip(table.iterrows(), masks):
        assert row["n"] == m.sum()
        assert abs(row["spearman"] - naive_spearman(scores[m], norms[m])) < 1e-12
        rhos = [naive_spearman(p[m], norms[m]) for p in per_init]
        for i, r in enumerate(rhos):
            assert abs(row[f"spearman_init_{i}"] - r) < 1e-12
        assert row["initialisations"] == 3
        assert abs(row["init_mean"] - np.mean(rhos)) < 1e-12
        assert row["init_min"] == pytest.approx(min(rhos), abs=1e-12)
        assert row["init_max"] == pytest.approx(max(rhos), abs=1e-12)
        assert row["init_min"] < row["init_max"]  # a real spread, not one draw repeated


def test_spread_needs_two_initialisations(data):
    scores, norms, labels, per_init = data
    for given in (None, per_init[:1]):
        table = norm_correlation(scores, norms, labels, per_init=given)
        assert table[["init_mean", "init_min", "init_max"]].isna().all().all()
    one = norm_correlation(per_init[0], norms, labels, per_init=per_init[:1])
    np.testing.assert_array_equal(one["spearman_init_0"], one["spearman"])
    assert "spearman_init_0" not in norm_correlation(scores, norms, labels).columns


def test_a_class_with_one_example_or_a_constant_column_has_no_rho():
    labels = np.array([0, 0, 0, 1])
    table = norm_correlation(np.array([1.0, 2, 3, 4]), np.array([5.0, 5, 5, 1]), labels)
    assert math.isnan(table.loc[1, "spearman"]) and math.isnan(table.loc[2, "spearman"])
    assert table.loc[0, "spearman"] == pytest.approx(naive_spearman([1, 2, 3, 4], [5, 5, 5, 1]), abs=1e-12)


def test_summary_is_the_table_as_json_values(data):
    scores, norms, labels, per_init = data
    table = norm_correlation(scores, norms, labels, per_init=per_init[:2])
    s = norm_correlation_summary(table, method="grand@0")
    assert s["method"] == "grand@0" and s["initialisations"] == 2 and s["n"] == len(labels)
    assert s["spearman"] == table.loc[0, "spearman"]
    assert s["per_init"] == table.loc[0, ["spearman_init_0", "spearman_init_1"]].tolist()
    assert s["init_min"] == min(s["per_init"]) and s["init_max"] == max(s["per_init"])
    assert list(s["per_class"]) == ["0", "1", "2"]
    assert s["per_class"]["1"]["spearman"] == table.loc[2, "spearman"]
    assert s["per_class"]["1"]["n"] == int((labels == 1).sum())
    assert norm_correlation_summary(norm_correlation(scores, norms, labels), method="grand@0")["init_mean"] is None


def test_bad_input_is_refused_in_one_line(data):
    scores, norms, labels, per_init = data
    with pytest.raises(DataDietError, match="norms must have one value per example"):
        norm_correlation(scores, norms[:-1], labels)
    with pytest.raises(DataDietError, match=r"per_init\[1\] must be finite"):
        norm_correlation(scores, norms, labels, per_init=[per_init[0], np.full(len(labels), np.nan)])
    with pytest.raises(DataDietError, match="labels must be integer"):
        norm_correlation(scores, norms, labels.astype(float))

"""Global magnitude pruning and random masks against naive references."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from datadiet.errors import DataDietError
from datadiet.lottery import (
    check_levels,
    dense_masks,
    magnitude_prune,
    prunable_weights,
    random_masks_like,
    remaining_after,
    sparsity,
)


def net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.Flatten(), nn.Linear(4 * 6, 5), nn.ReLU(), nn.Linear(5, 3)
    )


def naive_prune(weights, masks, rate):
    """Sort every remaining weight of every layer by |w| in plain Python; drop the ceil(rate*R) smallest."""
    pool = []
    for name, m in masks.items():
        for pos, (w, keep) in enumerate(zip(weights[name].flatten().tolist(), m.flatten().tolist())):
            if keep:
                pool.append((abs(w), name, pos))
    pool.sort(key=lambda t: t[0])
    drop = {(name, pos) for _, name, pos in pool[: math.ceil(rate * len(pool))]}
    out = {}
    for name, m in masks.items():
        flat = m.flatten().tolist()
        out[name] = torch.tensor([0.0 if (name, i) in drop else v for i, v in enumerate(flat)]).view_as(m)
    return out


def test_prunable_weights_are_conv_and_linear_weights_only():
    model = net()
    assert prunable_weights(model) == ["0.weight", "3.weight", "5.weight"]  # no biases, no batch norm
    assert prunable_weights(model, exclude=["5"]) == ["0.weight", "3.weight"]
    with pytest.raises(DataDietError, match="exclude names no layer of the model: fc"):
        prunable_weights(model, exclude=["fc"])


def test_global_threshold_matches_a_naive_sort_over_all_layers():
    model = net()
    weights = {k: v.detach().clone() for k, v in model.named_parameters()}
    masks = dense_masks(model)
    for _level in range(1, 6):
        got = magnitude_prune(weights, masks, rate=0.2)
        want = naive_prune(weights, masks, 0.2)
        for name in masks:
            torch.testing.assert_close(got[name], want[name], rtol=0, atol=0)
        remaining = int(sum(m.sum() for m in masks.values()))
        assert int(sum(m.sum() for m in got.values())) == remaining - math.ceil(0.2 * remaining)
        masks = got
        # a new trained model each level: perturb the weights so the ranking changes
        weights = {k: v + 0.05 * torch.randn_like(v) for k, v in weights.items()}
    assert sparsity(masks) == pytest.approx(1 - 0.8**5, abs=5 / sum(m.numel() for m in masks.values()))


def test_only_remaining_weights_are_pruned_and_pruned_ones_stay_pruned():
    model = net()
    masks = dense_masks(model)
    # give the pruned positions the LARGEST magnitudes: they must neither count nor come back
    masks["3.weight"][0, :] = 0
    weights = {k: v.detach().clone() for k, v in model.named_parameters()}
    weights["3.weight"][0, :] = 100.0
    weights["0.weight"][:] = 1e-6  # tiny, remaining: pruned first
    remaining = int(sum(m.sum() for m in masks.values()))
    got = magnitude_prune(weights, masks, rate=0.2)
    assert (got["3.weight"][0, :] == 0).all()
    assert int(sum(m.sum() for m in got.values())) == remaining - math.ceil(0.2 * remaining)
    assert (got["0.weight"] == 0).all()  # 12 weights of 1e-6 are among the smallest 20%
    torch.testing.assert_close(got, naive_prune(weights, masks, 0.2), rtol=0, atol=0)


def test_random_masks_keep_each_layers_count_and_vary_with_the_seed():
    model = net()
    masks = magnitude_prune({k: v.detach() for k, v in model.named_parameters()}, dense_masks(model), rate=0.5)
    a, b = random_masks_like(masks, seed=0), random_masks_like(masks, seed=1)
    for name in masks:
        assert int(a[name].sum()) == int(masks[name].sum()) == int(b[name].sum())
    assert any(not torch.equal(a[n], b[n]) for n in masks)
    torch.testing.assert_close(a, random_masks_like(masks, seed=0), rtol=0, atol=0)


@pytest.mark.parametrize("rate", [0, 1, -0.1, 1.5, float("nan"), True])
def test_rates_outside_the_open_interval_are_refused(rate):
    model = net()
    with pytest.raises(DataDietError, match=r"rate must be in \(0, 1\)"):
        magnitude_prune({k: v for k, v in model.named_parameters()}, dense_masks(model), rate=rate)


def test_sparsity_counts_prunable_weights():
    masks = {"a": torch.ones(10), "b": torch.zeros(30)}
    assert sparsity(masks) == pytest.approx(0.75)
    assert np.isclose(sparsity({"a": torch.ones(4)}), 0.0)


def test_remaining_after_follows_magnitude_prune_level_by_level():
    torch.manual_seed(0)
    w = {"a": torch.randn(7, 3), "b": torch.randn(5)}
    masks = {k: torch.ones_like(v) for k, v in w.items()}
    seen = [26]  # 7 x 3 + 5 weights
    for _ in range(12):  # prune the same weights again and again, counting what remains
        masks = magnitude_prune(w, masks, rate=0.3)
        seen.append(int(sum(m.sum() for m in masks.values())))
        if seen[-1] == 0:
            break
    assert remaining_after(26, rate=0.3, levels=12) == seen


def test_levels_that_prune_every_weight_are_refused_with_the_most_that_keep_one():
    assert check_levels(22, rate=0.3, levels=3) == 3
    counts = remaining_after(22, rate=0.3, levels=1000)
    most = len(counts) - 2
    assert counts[most] >= 1 and counts[-1] == 0
    assert check_levels(22, rate=0.3, levels=most) == most
    with pytest.raises(DataDietError, match=rf"prune all 22 prunable weights; at most {most} level\(s\)"):
        check_levels(22, rate=0.3, levels=most + 1)
    with pytest.raises(DataDietError, match="at most"):
        check_levels(1000, rate=0.9, levels=100000)

"""Interpolation (batch-norm buffers included) and the barrier's definition."""

import numpy as np
import pytest
import torch
from torch import nn

from datadiet.errors import DataDietError
from datadiet.lottery import ALPHAS, error_barrier, interpolate, lmc_fraction, path_barriers


def bn_net(seed):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    m.train()
    m(torch.randn(16, 3) * (seed + 1))  # moves the running statistics
    m(torch.randn(16, 3))
    return m.state_dict()


def test_every_float_tensor_is_interpolated_including_batch_norm_statistics():
    a, b = bn_net(0), bn_net(1)
    assert not torch.equal(a["1.running_mean"], b["1.running_mean"])
    for alpha in ALPHAS:
        mid = interpolate(a, b, alpha)
        for k in a:
            if a[k].is_floating_point():
                want = (1 - alpha) * a[k].double() + alpha * b[k].double()
                torch.testing.assert_close(mid[k].double(), want, rtol=1e-6, atol=1e-7)
            else:  # num_batches_tracked: an integer count, from the first network
                assert torch.equal(mid[k], a[k])
    torch.testing.assert_close(interpolate(a, b, 0.0), a, rtol=0, atol=0)
    torch.testing.assert_close(interpolate(a, b, 1.0)["1.running_var"], b["1.running_var"], rtol=0, atol=0)


def test_interpolation_refuses_mismatched_networks():
    a, b = bn_net(0), bn_net(1)
    b.pop("2.bias")
    with pytest.raises(DataDietError, match="different tensors"):
        interpolate(a, b, 0.5)
    with pytest.raises(DataDietError, match="alpha must be in"):
        interpolate(a, a, 1.5)


def test_barrier_is_the_path_maximum_minus_the_mean_of_the_endpoints():
    errors = [0.10, 0.12, 0.30, 0.25, 0.14]
    assert error_barrier(errors) == pytest.approx(0.30 - 0.12)
    assert error_barrier([0.2, 0.1, 0.2]) == pytest.approx(0.0)  # a path below its ends: no barrier
    assert error_barrier([0.2, 0.1, 0.15]) == pytest.approx(0.2 - 0.175)  # the max may be an endpoint
    rng = np.random.default_rng(0)
    for _ in range(20):
        e = rng.random(11)
        assert error_barrier(e) == pytest.approx(max(e) - (e[0] + e[-1]) / 2)
    assert ALPHAS == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    with pytest.raises(DataDietError, match="at least 2"):
        error_barrier([0.1])


def test_per_example_barriers_of_two_tiny_networks_evaluated_by_hand():
    """Two 1-layer networks on 2 inputs, 2 classes: every example's loss and 0-1 error along the path,
    computed by hand at each alpha, give path_barriers' midpoint loss barrier and path error barrier."""
    wa = np.array([[2.0, 0.0], [0.0, 2.0]])  # copy A: class = the larger coordinate
    wb = np.array([[0.0, 2.0], [2.0, 0.0]])  # copy B: class = the smaller coordinate
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    y = np.array([0, 0, 1, 0])
    losses, errors = [], []
    for alpha in ALPHAS:
        w = (1 - alpha) * wa + alpha * wb
        row_l, row_e = [], []
        for xi, yi in zip(x, y):
            z = [float(w[c] @ xi) for c in range(2)]
            lse = np.log(np.exp(z[0]) + np.exp(z[1]))
            row_l.append(lse - z[yi])
            row_e.append(0.0 if z[yi] > z[1 - yi] else 1.0)  # a tie counts as an error
        losses.append(row_l)
        errors.append(row_e)
    lb, eb = path_barriers(losses, errors)
    # at alpha = 0.5 both copies average to w = [[1, 1], [1, 1]]: every logit pair ties, loss log 2
    np.testing.assert_allclose(lb, [np.log(2) - 0.5 * (li[0] + li[1]) for li in zip(losses[0], losses[-1])], atol=1e-12)
    # example 0: right at A, wrong at B -> max error 1 minus mean 0.5; example 2: a tie everywhere
    np.testing.assert_array_equal(eb, [0.5, 0.5, 0.0, 0.5])
    assert lmc_fraction(lb, threshold=0.0) == pytest.approx(np.mean(lb <= 0.0))
    assert lmc_fraction(np.array([0.05, 0.1, 0.2]), 0.1) == pytest.approx(2 / 3)


def test_path_barriers_and_lmc_fraction_refuse_bad_input():
    with pytest.raises(DataDietError, match="shape"):
        path_barriers(np.zeros((11, 3)), np.zeros((10, 3)))
    with pytest.raises(DataDietError, match="hold 0.5"):
        path_barriers(np.zeros((3, 2)), np.zeros((3, 2)), alphas=(0.0, 0.4, 1.0))
    with pytest.raises(DataDietError, match="finite"):
        lmc_fraction(np.array([0.1, np.nan]))
    with pytest.raises(DataDietError, match="non-empty"):
        lmc_fraction(np.array([]))

"""Interpolation (batch-norm buffers included) and the barrier's definition."""

import numpy as np
import pytest
import torch
from torch import nn

from datadiet.errors import DataDietError
from datadiet.lottery import ALPHAS, error_barrier, interpolate


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

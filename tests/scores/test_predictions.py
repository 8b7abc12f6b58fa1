"""Scores from saved predictions against the model-based scores and naive loops."""

import numpy as np
import pytest
import torch
from torch import nn

from datadiet.errors import DataDietError
from datadiet.scores import el2n, logit_margin, loss, margin
from datadiet.scores.predictions import el2n_from_probs, logit_margin_from_logits, loss_from_probs, margin_from_probs


@pytest.fixture
def model_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    x = torch.randn(40, 3, 4)
    y = torch.randint(0, 5, (40,))
    with torch.no_grad():
        logits = model(x).double()
    return model, x, y, logits


def test_from_predictions_equal_the_model_based_scores(model_and_data):
    model, x, y, logits = model_and_data
    probs = torch.softmax(logits, 1).numpy()
    np.testing.assert_allclose(el2n_from_probs(probs, y.numpy()), el2n(model, x, y), rtol=1e-6)
    np.testing.assert_allclose(margin_from_probs(probs, y.numpy()), margin(model, x, y), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(loss_from_probs(probs, y.numpy()), loss(model, x, y), rtol=1e-6)
    np.testing.assert_allclose(
        logit_margin_from_logits(logits.numpy(), y.numpy()), logit_margin(model, x, y), rtol=1e-5
    )


def test_from_probs_against_naive_loops():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(4), size=30)
    y = rng.integers(0, 4, 30)
    for i in range(30):
        onehot = np.eye(4)[y[i]]
        assert el2n_from_probs(p, y)[i] == pytest.approx(np.sqrt(((p[i] - onehot) ** 2).sum()))
        assert margin_from_probs(p, y)[i] == pytest.approx(max(np.delete(p[i], y[i])) - p[i, y[i]])
        assert loss_from_probs(p, y)[i] == pytest.approx(-np.log(p[i, y[i]]))


@pytest.mark.parametrize(
    "probs,labels,match",
    [
        (np.full((3, 2), 0.7), [0, 1, 0], "rows must sum to 1"),
        (np.array([[1.2, -0.2], [0.5, 0.5]]), [0, 1], "probs must be >= 0"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), [0, 1], "finite"),
        (np.ones(4) / 4, [0], r"shape \(N, classes\)"),
        (np.full((2, 2), 0.5), [0, 2], r"labels must be in \[0, 2\)"),
        (np.full((2, 2), 0.5), [0], r"labels must have shape \(2,\)"),
        (np.full((2, 2), 0.5), [0.0, 1.0], "integer"),
    ],
)
def test_from_probs_refuses_bad_input(probs, labels, match):
    with pytest.raises(DataDietError, match=match):
        el2n_from_probs(probs, labels)

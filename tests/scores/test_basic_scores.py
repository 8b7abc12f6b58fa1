"""Each forward-pass score against a naive per-example implementation of its definition."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from datadiet.models import build_model
from datadiet.scores import el2n, input_norm, logit_margin, loss, margin, random_scores


class OddNet(nn.Module):
    """A model nobody has seen: conv with stride, BatchNorm, dropout (must be off in eval), tanh."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 5, 3, stride=2)
        self.bn = nn.BatchNorm2d(5)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(5 * 3 * 3, 6)

    def forward(self, x):
        return self.fc(self.drop(torch.tanh(self.bn(self.c(x))).flatten(1)))


def _models():
    torch.manual_seed(0)
    odd = OddNet()
    odd.bn.running_mean.uniform_(-1, 1)
    odd.bn.running_var.uniform_(0.5, 2)
    return [
        (odd, torch.randn(23, 2, 8, 8), 6),
        (build_model("cnn", (1, 12, 12), 4, seed=3), torch.randn(17, 1, 12, 12), 4),
        (build_model("mlp", (1, 10), 3, seed=1), torch.randn(9, 1, 10), 3),
    ]


def _naive_logits(model, x):
    model.eval()
    with torch.no_grad():
        return [model(x[i : i + 1])[0].double() for i in range(len(x))]


@pytest.mark.parametrize("case", range(3))
def test_el2n_loss_margin_match_definitions(case):
    model, x, c = _models()[case]
    y = torch.arange(len(x)) % c
    model.train()
    logits = _naive_logits(model, x)
    model.train()
    want_el2n, want_loss, want_margin, want_logit_margin = [], [], [], []
    for z, t in zip(logits, y):
        p = [math.exp(v) for v in z.tolist()]
        s = sum(p)
        p = [v / s for v in p]
        onehot = [1.0 if k == t else 0.0 for k in range(c)]
        want_el2n.append(math.sqrt(sum((a - b) ** 2 for a, b in zip(p, onehot))))
        want_loss.append(-math.log(p[int(t)]))
        others = [v for k, v in enumerate(z.tolist()) if k != t]
        want_logit_margin.append(max(others) - z[int(t)].item())
        want_margin.append(max(v for k, v in enumerate(p) if k != t) - p[int(t)])  # in probabilities
    for fn, want in ((el2n, want_el2n), (loss, want_loss), (margin, want_margin), (logit_margin, want_logit_margin)):
        for bs in (1, 4, 1024):
            got = fn(model, x, y, batch_size=bs)
            assert got.shape == (len(x),) and got.dtype == np.float64
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert model.training  # mode restored


def test_scoring_leaves_model_untouched():
    model, x, c = _models()[0]
    y = torch.arange(len(x)) % c
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sentinel = torch.full_like(model.fc.weight, 7.0)
    model.fc.weight.grad = sentinel
    for fn in (el2n, loss, margin):
        fn(model, x, y)
    assert model.training and model.fc.weight.grad is sentinel
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_input_norm_and_random():
    x = torch.randn(7, 3, 4, 4)
    np.testing.assert_allclose(input_norm(x), [math.sqrt(float((v.double() ** 2).sum())) for v in x], rtol=1e-10)
    a, b = random_scores(100, seed=1), random_scores(100, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, random_scores(100, seed=2))
    assert ((a >= 0) & (a < 1)).all()


def test_bad_inputs():
    model, x, c = _models()[1]
    with pytest.raises(ValueError, match="same length"):
        el2n(model, x, torch.zeros(3, dtype=torch.long))
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        el2n(model, bad, torch.zeros(len(x), dtype=torch.long))
    with pytest.raises(ValueError, match="model's 4 classes"):
        el2n(model, x, torch.full((len(x),), 9))
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        el2n(model, x, torch.zeros(len(x), dtype=torch.long), batch_size=0)


def test_narrow_integer_inputs_are_pixels_and_wide_ones_are_ids():
    """uint8 images score as floats (as they always did); int64 inputs stay integers (token ids)."""
    from datadiet.validation import as_inputs_targets

    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    x, _ = as_inputs_targets(pixels, [0, 1])
    assert x.dtype == torch.float32 and torch.equal(x, torch.as_tensor(pixels).float())
    ids, _ = as_inputs_targets(np.array([[1, 2], [3, 4]]), [0, 1])
    assert ids.dtype == torch.int64
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    np.testing.assert_allclose(el2n(model, pixels, [0, 1]), el2n(model, pixels.astype(np.float32), [0, 1]))

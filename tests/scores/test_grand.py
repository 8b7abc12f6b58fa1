"""GraNd: the fast batched ``grand`` against an independent naive per-example implementation."""

import copy
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from datadiet.models import build_model
from datadiet.scores import grand, grand_rules


def naive_grand(model, x, y, params=None):
    """‖∇θ CE‖ per example by one autograd.grad per example, in float64 on a copy of the model."""
    m = copy.deepcopy(model).double().eval()
    if params is None:
        ps = [p for p in m.parameters() if p.requires_grad]
    else:  # names of the parameters to differentiate
        named = dict(m.named_parameters())
        ps = [named[k] for k in params]
    x = torch.as_tensor(x)
    if x.is_floating_point():  # integer inputs (token ids) stay integers
        x = x.double()
    out = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny per-example ops: one thread is faster (and the value the same)
    try:
        for i in range(x.shape[0]):
            loss = F.cross_entropy(m(x[i : i + 1]), torch.as_tensor(y[i : i + 1]))
            gs = torch.autograd.grad(loss, ps, allow_unused=True)
            out.append(sum(float((g**2).sum()) for g in gs if g is not None) ** 0.5)
    finally:
        torch.set_num_threads(threads)
    return np.array(out)


def data(shape, n=10, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


def check(model, x, y, batch_size=4, **kw):
    got = grand(model, x, y, batch_size=batch_size, **kw)
    ref = naive_grand(model, x, y)
    assert got.shape == (x.shape[0],) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    return got


class ConvZoo(nn.Module):
    """Strided/dilated/grouped reflect-padded conv with bias, 'same' circular grouped conv, an
    in-place ReLU right after the first layer, GroupNorm, a grouped conv in the ghost-norm regime,
    LayerNorm and Linear layers on 3-D (token) inputs, Linear layers called twice in one forward
    (ghost norm and materialised), BatchNorm1d, and a frozen parameter."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 8, 3, stride=2, dilation=2, padding=2, groups=2, padding_mode="reflect")
        self.act = nn.ReLU(inplace=True)
        self.c2 = nn.Conv2d(8, 8, 3, padding="same", padding_mode="circular", groups=4)
        self.gn = nn.GroupNorm(2, 8)
        self.pool = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(8, 32, 3, stride=2, padding=1, groups=2)  # 2x2 output: ghost norm
        self.ln = nn.LayerNorm(32)
        self.tok = nn.Linear(32, 64)  # 4 tokens: ghost norm
        self.shared = nn.Linear(64, 64)  # called twice: calls pooled (ghost norm)
        self.mix = nn.Linear(4, 4)  # across tokens, called twice (materialised)
        self.bn = nn.BatchNorm1d(64)
        self.out = nn.Linear(64, 5)
        self.gn.bias.requires_grad_(False)  # frozen: excluded

    def forward(self, x):
        h = self.pool(self.gn(self.c2(self.act(self.c1(x)))))  # (B, 8, 3, 3)
        h = F.relu(self.c3(h)).flatten(2).transpose(1, 2)  # (B, 4, 32)
        h = self.tok(self.ln(h))
        h = self.shared(torch.tanh(self.shared(h)))
        h = self.mix(torch.tanh(self.mix(h.transpose(1, 2)))).transpose(1, 2)
        return self.out(self.bn(h.mean(1)))


class Conv1dZoo(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 6, 5, stride=2, dilation=2, padding=3, groups=3, padding_mode="replicate")
        self.bn = nn.BatchNorm1d(6)
        self.c2 = nn.Conv1d(6, 12, 4, padding="same", bias=False)
        self.c3 = nn.Conv1d(12, 12, 3, padding="valid")
        self.head = nn.Linear(12, 5)

    def forward(self, x):
        h = F.relu(self.c2(F.relu(self.bn(self.c1(x)))))
        return self.head(self.c3(h).mean(2))


class Scale(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.s = nn.Parameter(torch.linspace(0.5, 1.5, d))

    def forward(self, x):
        return x * self.s


class Uncovered(nn.Module):
    """PReLU, a custom module with its own parameter, and two Linear layers sharing a weight."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(12, 8)
        self.act = nn.PReLU(8)
        self.scale = Scale(8)
        self.t1 = nn.Linear(8, 8)
        self.t2 = nn.Linear(8, 8)
        self.t2.weight = self.t1.weight
        self.out = nn.Linear(8, 5)

    def forward(self, x):
        h = self.scale(self.act(self.a(x.flatten(1))))
        return self.out(torch.tanh(self.t2(torch.tanh(self.t1(h)))))


class ItemScale(Scale):
    """Data-dependent control flow on a parameter: torch.func.vmap cannot trace it."""

    def forward(self, x):
        return x * self.s if float(self.s.sum().item()) > 0 else x


@pytest.mark.parametrize(
    "name, shape, width",
    [("mlp", (1, 6, 6), 0.25), ("cnn", (1, 12, 12), 0.5), ("cnn", (2, 20), 0.5), ("resnet18", (3, 16, 16), 0.125)],
)
def test_exact_on_package_models(name, shape, width):
    model = build_model(name, shape, 5, width=width, seed=1)
    x, y = data(shape, n=6 if name == "resnet18" else 10)
    check(model, x, y)


@pytest.fixture(scope="module")
def conv_zoo():
    torch.manual_seed(0)
    model = ConvZoo()
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2.0)
    x, y = data((4, 13, 13))
    return model, x, y, naive_grand(model, x, y)


@pytest.mark.parametrize(
    "mode, conv_mat", [("auto", "auto"), ("mat", "grouped"), ("mat", "patches"), ("ghost", "auto")]
)
def test_exact_on_conv_zoo(monkeypatch, conv_zoo, mode, conv_mat):
    # every layer through each path: ghost norm, materialised by grouped conv or by patches
    monkeypatch.setattr(grand_rules, "_MODE", mode)
    monkeypatch.setattr(grand_rules, "_CONV_MAT", conv_mat)
    model, x, y, ref = conv_zoo
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # everything here is covered: no fallback warning
        got = grand(model, x, y, batch_size=4)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    if mode == "auto":
        monkeypatch.setattr(grand_rules, "CHUNK_ELEMS", 500)  # forces many small chunks per layer
        np.testing.assert_allclose(grand(model, x, y, batch_size=7), got, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("mode, conv_mat", [("mat", "grouped"), ("mat", "patches"), ("ghost", "auto")])
def test_exact_on_conv1d_and_conv3d(monkeypatch, mode, conv_mat):
    monkeypatch.setattr(grand_rules, "_MODE", mode)
    monkeypatch.setattr(grand_rules, "_CONV_MAT", conv_mat)
    torch.manual_seed(0)
    check(Conv1dZoo(), *data((3, 23)))
    conv3d = nn.Sequential(
        nn.Conv3d(2, 4, 3, stride=(1, 2, 1), padding=1, dilation=(1, 1, 2), groups=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.LazyLinear(5),
    )
    x, y = data((2, 4, 5, 6), n=6)
    conv3d(x)  # materialise the lazy layer
    check(conv3d, x, y)


def test_uncovered_layers_use_exact_fallback_with_warning():
    torch.manual_seed(0)
    model = Uncovered()
    x, y = data((3, 4))
    with pytest.warns(UserWarning, match=r"Linear.*PReLU.*Scale"):
        check(model, x, y)


def test_fallback_loop_when_vmap_fails():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), ItemScale(4), nn.Linear(4, 3))
    x, y = data((2, 3), classes=3)
    with pytest.warns(UserWarning) as rec:
        check(model, x, y)
    msgs = " ".join(str(w.message) for w in rec)
    assert "ItemScale" in msgs and "loop" in msgs


def test_batchnorm_without_running_stats_scored_per_example():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4, track_running_stats=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )
    x, y = data((1, 6, 6), classes=3)
    with pytest.warns(UserWarning, match="one example at a time"):
        check(model, x, y)


def test_independent_of_batch_size():
    model = build_model("cnn", (1, 12, 12), 5, width=0.5)
    x, y = data((1, 12, 12), n=12)
    a, b, c = (grand(model, x, y, batch_size=bs) for bs in (1, 7, 256))
    np.testing.assert_allclose(a, b, rtol=1e-5)
    np.testing.assert_allclose(a, c, rtol=1e-5)


def test_model_left_as_it_was():
    model = build_model("cnn", (1, 12, 12), 5, width=0.5)
    model.train()
    model.features[0].weight.requires_grad_(False)  # frozen: excluded, and stays frozen
    sentinel = torch.full_like(model.head[1].weight, 7.0)
    model.head[1].weight.grad = sentinel
    state = {k: v.clone() for k, v in model.state_dict().items()}  # incl. BN running stats
    x, y = data((1, 12, 12))
    got = grand(model, x, y)
    assert model.training and all(m.training for m in model.modules())
    assert model.head[1].weight.grad is sentinel and torch.all(sentinel == 7.0)
    assert all(p.grad is None for n, p in model.named_parameters() if n != "head.1.weight")
    assert [p.requires_grad for p in model.parameters()] == [
        n != "features.0.weight" for n, _ in model.named_parameters()
    ]
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    np.testing.assert_allclose(got, naive_grand(model, x, y), rtol=1e-4)


def test_works_under_no_grad_and_on_numpy_input():
    model = build_model("mlp", (1, 6, 6), 5, width=0.25)
    x, y = data((1, 6, 6))
    with torch.no_grad():
        got = grand(model, x.numpy(), y.numpy())
    np.testing.assert_allclose(got, naive_grand(model, x, y), rtol=1e-4)


def test_validation():
    model = build_model("mlp", (1, 6, 6), 5, width=0.25)
    x, y = data((1, 6, 6))
    with pytest.raises(ValueError, match="same length"):
        grand(model, x, y[:-1])
    bad = x.clone()
    bad[3, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        grand(model, bad, y)
    with pytest.raises(ValueError):
        grand(model, x, y, batch_size=0)
    with pytest.raises(ValueError, match="classes"):
        grand(model, x, y + 5)
    assert grand(model, x[:0], y[:0]).shape == (0,)


def test_last_layer_closed_form_is_opt_in():
    model = build_model("cnn", (1, 12, 12), 5, width=0.5)
    x, y = data((1, 12, 12))
    approx = grand(model, x, y, last_layer=True)
    np.testing.assert_allclose(approx, naive_grand(model, x, y, params=["head.3.weight", "head.3.bias"]), rtol=1e-4)
    full = grand(model, x, y)
    assert np.all(approx < full)  # the default is the full gradient, not the approximation
    odd = nn.Sequential(nn.Flatten(), nn.Linear(36, 5), nn.ReLU())
    with pytest.raises(ValueError, match="last_layer"):
        grand(odd, x[:, :, :6, :6], y, last_layer=True)

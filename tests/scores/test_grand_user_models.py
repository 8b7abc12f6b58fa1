"""GraNd on user models that break the fast path's assumptions: exact (against a naive float64
per-example loop) or refused with a DataDietError, never a plausible wrong number."""

import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from datadiet.errors import DataDietError
from datadiet.models import build_model
from datadiet.scores import el2n, grand, grand_loop, input_norm, loss, margin
from datadiet.scores.grand_exact import CHECK_BATCH
from tests.scores.test_grand import naive_grand

V, D, C = 11, 8, 5  # vocabulary, width, classes


def tokens(n, t, seed=0, vocab=V):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (n, t), generator=g), torch.randint(0, C, (n,), generator=g)


def floats(shape, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, C, (n,), generator=g)


def exact(model, x, y, batch_size=4, **kw):
    got = grand(model, x, y, batch_size=batch_size, **kw)
    assert got.shape == (x.shape[0],) and got.dtype == np.float64
    np.testing.assert_allclose(got, naive_grand(model, x, y), rtol=1e-4)
    return got


def no_warnings(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kw)


# ---- models ------------------------------------------------------------------------------------


class TiedLM(nn.Module):
    """Embedding + output projection with the embedding's own weight (tied), pooled to C classes."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.ln = nn.LayerNorm(D)
        self.mix = nn.Linear(D, D)
        self.cls = nn.Linear(V, C)

    def forward(self, ids):
        h = torch.tanh(self.mix(self.ln(self.emb(ids))))  # (N, T, D)
        vocab_logits = F.linear(h, self.emb.weight)  # tied: (N, T, V)
        return self.cls(vocab_logits.mean(1))


class FunctionalReuse(nn.Module):
    """``fc`` is called as a module and its weight is also used functionally outside its call."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.out = nn.Linear(6, C)

    def forward(self, x):
        h = torch.tanh(self.fc(x))
        h = torch.tanh(h @ self.fc.weight.T)  # fc's weight again, outside fc's own call
        return self.out(h)


class SeqFirst(nn.Module):
    """Tokens (N, T, D) transposed to (T, N, D) before Linear / LayerNorm / attention
    (batch_first=False): dimension 0 of those layers' inputs is the sequence, not the batch."""

    def __init__(self, attention=True):
        super().__init__()
        self.inp = nn.Linear(4, D)
        self.ln = nn.LayerNorm(D)
        self.att = nn.MultiheadAttention(D, 2) if attention else None
        self.ff = nn.Linear(D, D)
        self.head = nn.Linear(D, C)

    def forward(self, x):
        h = self.inp(x.transpose(0, 1))  # (T, N, D)
        h = self.ln(h)
        if self.att is not None:
            h = h + self.att(h, h, h, need_weights=False)[0]
        h = torch.tanh(self.ff(h))
        return self.head(h.mean(0))


class SeqFirstNoAttention(SeqFirst):
    def __init__(self):
        super().__init__(attention=False)


class BagOfTokens(nn.Module):
    """Embedding-only bag of tokens (repeated ids, padding_idx), then a Linear head."""

    def __init__(self, padding_idx=0, **kw):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=padding_idx, **kw)
        self.head = nn.Linear(D, C)

    def forward(self, ids):
        return self.head(torch.tanh(self.emb(ids).reshape(ids.shape[0], -1, D).sum(1)))


class BatchMixer(nn.Module):
    """Mixes examples in eval mode (subtracts the batch mean): scored one example at a time."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, C)

    def forward(self, x):
        h = self.a(x)
        return self.b(torch.tanh(h - 0.5 * h.mean(0, keepdim=True)))


# ---- tests -------------------------------------------------------------------------------------


def test_tied_embedding_and_output_projection_on_token_ids():
    torch.manual_seed(0)
    model = TiedLM()
    x, y = tokens(10, 7)
    with pytest.warns(UserWarning, match=r"Embedding 'emb' uses its weight outside its own call"):
        exact(model, x, y)


def test_weight_used_functionally_outside_its_module():
    torch.manual_seed(0)
    model = FunctionalReuse()
    x, y = floats((6,), 10)
    with pytest.warns(UserWarning, match=r"Linear 'fc' uses its weight outside its own call") as rec:
        exact(model, x, y)
    assert "'out'" not in " ".join(str(w.message) for w in rec)  # the rest stays on the fast path


@pytest.mark.parametrize("model_cls", [SeqFirst, SeqFirstNoAttention])
@pytest.mark.parametrize("n, t", [(6, 6), (6, 5), (10, 10)])
def test_sequence_first_layout(model_cls, n, t):
    torch.manual_seed(0)
    model = model_cls()
    x, y = floats((t, 4), n)
    with pytest.warns(UserWarning) as rec:  # (torch's own vmap warnings about attention too)
        got = exact(model, x, y, batch_size=n)  # T == N: dimension 0 looks like the batch
    msgs = " ".join(str(w.message) for w in rec)
    assert re.search(r"Linear 'inp' [^;]*batch", msgs), msgs
    assert "LayerNorm 'ln'" in msgs and "Linear 'ff'" in msgs and "Linear 'head'" not in msgs
    if t == n <= CHECK_BATCH:
        assert "alone" in msgs  # caught by the single-example check: the shape check cannot see it
    # independent of the batch size (T != B in every batch here)
    with pytest.warns(UserWarning):
        np.testing.assert_allclose(grand(model, x, y, batch_size=4), got, rtol=1e-5)


@pytest.mark.parametrize("shape", [(9,), (3, 4)])
def test_embedding_bag_of_tokens_repeated_ids_and_padding(shape):
    torch.manual_seed(0)
    model = BagOfTokens(padding_idx=0)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 4, (12, *shape), generator=g)  # few distinct ids: many repeats, many pads
    x[0] = 0  # all padding: no embedding gradient at all
    y = torch.randint(0, C, (12,), generator=g)
    got = no_warnings(exact, model, x, y, batch_size=5)  # exact on the fast path: no fallback
    np.testing.assert_allclose(no_warnings(grand_loop, model, x, y), got, rtol=1e-5)


def test_embedding_flags_use_fallback():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(V, D, scale_grad_by_freq=True), nn.Flatten(), nn.Linear(3 * D, C))
    x, y = tokens(8, 3)
    with pytest.warns(UserWarning, match=r"Embedding '0' has scale_grad_by_freq set"):
        exact(model, x, y)


class GRUHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.rnn = nn.GRU(D, D, batch_first=True)
        self.out = nn.Linear(D, C)

    def forward(self, ids):
        return self.out(self.rnn(self.emb(ids))[0][:, -1])


def test_fallback_vmap_on_integer_inputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(V, D), nn.PReLU(), nn.Flatten(), nn.Linear(4 * D, C))
    x, y = tokens(6, 4)
    with pytest.warns(UserWarning, match="PReLU '1' has no fast rule") as rec:
        exact(model, x, y)
    assert not any("vmap failed" in str(w.message) for w in rec)


def test_fallback_loop_on_integer_inputs():
    torch.manual_seed(0)
    model = GRUHead()
    x, y = tokens(6, 4)
    with pytest.warns(UserWarning) as rec:
        exact(model, x, y)
    msgs = " ".join(str(w.message) for w in rec)
    assert "GRU 'rnn' has no fast rule" in msgs and "per-example loop" in msgs  # vmap cannot run the GRU
    np.testing.assert_allclose(grand_loop(model, x, y), naive_grand(model, x, y), rtol=1e-4)


def test_model_mixing_examples_scored_one_at_a_time():
    torch.manual_seed(0)
    model = BatchMixer()
    x, y = floats((6,), 8)
    with pytest.warns(UserWarning, match="one example at a time"):
        exact(model, x, y)


def test_model_failing_on_integer_inputs_is_refused():
    model = build_model("mlp", (1, 6, 6), C, width=0.25)
    x = torch.randint(0, 5, (4, 1, 6, 6))
    y = torch.randint(0, C, (4,))
    with pytest.raises(DataDietError, match=r"model failed on inputs of shape \(4, 1, 6, 6\) dtype torch.int64"):
        grand(model, x, y)
    with pytest.raises(DataDietError, match="model failed"):
        grand_loop(model, x, y)
    with pytest.raises(DataDietError, match="model failed"):
        el2n(model, x, y)
    # a model with only fallback parameters fails the same way
    with pytest.raises(DataDietError, match="model failed"):
        grand(nn.Sequential(nn.Flatten(), nn.PReLU()), x, y)


def test_embedding_ids_out_of_range_refused():
    model = BagOfTokens()
    x, y = tokens(4, 3, vocab=V + 5)
    x[0, 0] = V + 2
    with pytest.raises(DataDietError, match="model failed"):
        grand(model, x, y)


def test_integer_inputs_kept_and_bad_dtypes_refused():
    torch.manual_seed(0)
    model = BagOfTokens()
    x, y = tokens(6, 5)
    for fn in (el2n, loss, margin):
        assert fn(model, x, y).shape == (6,)
        np.testing.assert_allclose(fn(model, x.numpy().astype(np.int32), y), fn(model, x, y))
    np.testing.assert_allclose(input_norm(x), x.double().norm(dim=1).numpy())
    np.testing.assert_allclose(grand(model, x.int(), y), grand(model, x, y))
    for bad in (x.bool(), x.to(torch.complex64), np.array([["a", "b"]] * 6, dtype=object)):
        with pytest.raises(DataDietError, match=r"inputs.*dtype"):
            grand(model, bad, y)
    with pytest.raises(DataDietError, match=r"inputs.*dtype"):
        input_norm(x.bool())


@pytest.mark.parametrize("name, shape", [("cnn", (1, 12, 12)), ("mlp", (1, 6, 6))])
def test_package_models_stay_on_the_fast_path_without_warnings(name, shape):
    model = build_model(name, shape, C, width=0.5, seed=1)
    x, y = floats(shape, 10)
    got = no_warnings(grand, model, x, y, batch_size=4)
    np.testing.assert_allclose(got, naive_grand(model, x, y), rtol=1e-4)

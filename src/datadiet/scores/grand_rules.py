"""GraNd's exact per-layer rules: each covered layer's per-example squared gradient norm from the
layer's recorded (input, output gradient) pairs, by pure tensor math (see :mod:`datadiet.scores.grand`).

Which layers are covered (:data:`KIND`, by exact type) and when a covered type still has no rule
(:func:`uncovered_reason`) is decided here too; :class:`Tap` is one covered module's record.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Upper bound (in float32 elements, ~8 MiB) on the temporaries of one chunk of a layer's norm:
# small enough for the allocator to reuse memory between chunks instead of mapping fresh pages.
CHUNK_ELEMS = 1 << 21
# Per layer with several positions: "mat" (materialise per-example weight gradients), "ghost"
# (ghost norm), or "auto": the cheaper by the FLOP estimate T·K·O vs _GHOST_COST·T²·(K + O).
_MODE = "auto"
_GHOST_COST = 2.0  # measured: a ghost-norm FLOP costs about twice a materialising one on CPU
# How per-example conv weight gradients are materialised: "grouped" (one weight-gradient
# convolution with the examples as groups: no patch copy, best for wide inputs), "patches" (strided
# patch copy + bmm: best for few input channels, where the grouped kernel is slow and, on a loaded
# CPU, stalls), or "auto": patches below 8 input channels per group, grouped from 8 up.
_CONV_MAT = "auto"

BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
KIND: dict[type, str] = {
    nn.Linear: "linear",
    nn.Conv1d: "conv",
    nn.Conv2d: "conv",
    nn.Conv3d: "conv",
    nn.BatchNorm1d: "norm",
    nn.BatchNorm2d: "norm",
    nn.BatchNorm3d: "norm",
    nn.LayerNorm: "norm",
    nn.GroupNorm: "norm",
    nn.Embedding: "embed",
}


class Tap:
    """Per covered module: which of its parameters count, and its calls in the current batch."""

    def __init__(self, module: nn.Module, kind: str, names: set[str]):
        self.module = module
        self.kind = kind
        self.weight = "weight" in names
        self.bias = "bias" in names
        self.calls: list[list] = []  # [input (detached), its version, output grad or None]
        self.received = 0

    def reset(self) -> None:
        self.calls = []
        self.received = 0

    def params(self) -> list[nn.Parameter]:
        return [getattr(self.module, k) for k in ("weight", "bias") if getattr(self, k)]


def uncovered_reason(
    m: nn.Module, kind: str | None, own: dict[str, nn.Parameter], owners: dict[int, int]
) -> str | None:
    """Why module ``m`` (trainable parameters ``own``, of rule ``kind``) cannot take its fast rule,
    or None if it can; ``owners`` counts the modules holding each parameter (by id)."""
    if kind is None:
        return f"has no fast rule for {type(m).__name__}"
    if not set(own) <= {"weight", "bias"}:
        return f"has parameters other than weight and bias ({', '.join(sorted(own))})"
    if any(owners[id(p)] > 1 for p in own.values()):
        return "shares a parameter with another module"
    if kind == "embed" and (m.max_norm is not None or m.scale_grad_by_freq or m.sparse):
        flags = [f for f in ("max_norm", "scale_grad_by_freq", "sparse") if getattr(m, f) not in (None, False)]
        return f"has {', '.join(flags)} set"
    return None


def _conv_input(m: nn.Module, a: torch.Tensor):
    """The conv's input padded as the conv pads it when that is not plain symmetric zero padding,
    and the symmetric zero padding left for the convolution itself."""
    nd = len(m.kernel_size)
    if m.padding_mode != "zeros":
        return F.pad(a, m._reversed_padding_repeated_twice, mode=m.padding_mode), (0,) * nd
    if isinstance(m.padding, str):  # 'valid', or 'same' (possibly asymmetric)
        if any(m._reversed_padding_repeated_twice):
            a = F.pad(a, m._reversed_padding_repeated_twice)
        return a, (0,) * nd
    return a, tuple(m.padding)


def _unfold(m: nn.Module, a: torch.Tensor, pad) -> torch.Tensor:
    """Conv input patches (c, C_in * prod(kernel), positions), channel-major like the weight:
    one strided view of the (zero-padded) input and one copy, for any number of spatial dims."""
    nd = len(m.kernel_size)
    if any(pad):
        a = F.pad(a, [p for p in reversed(pad) for _ in range(2)])
    c, C, sp = a.shape[0], a.shape[1], a.shape[2:]
    k, d, st = m.kernel_size, m.dilation, m.stride
    out_sp = [(sp[i] - d[i] * (k[i] - 1) - 1) // st[i] + 1 for i in range(nd)]
    s = a.stride()
    v = a.as_strided(
        (c, C, *k, *out_sp),
        (s[0], s[1], *[s[2 + i] * d[i] for i in range(nd)], *[s[2 + i] * st[i] for i in range(nd)]),
        a.storage_offset(),
    )
    return v.reshape(c, C * math.prod(k), math.prod(out_sp))


def _conv_weight_grads(m: nn.Module, a: torch.Tensor, g: torch.Tensor, pad) -> torch.Tensor:
    """Per-example conv weight gradients (c, numel(weight)) from one grouped weight-gradient
    convolution: the c examples become c x groups groups of a single convolution."""
    c = a.shape[0]
    x = a.reshape(1, c * a.shape[1], *a.shape[2:])
    go = g.reshape(1, c * g.shape[1], *g.shape[2:])
    w = a.new_empty((c * m.out_channels, m.in_channels // m.groups, *m.kernel_size))  # shape only
    nd = len(m.kernel_size)
    gw = torch.ops.aten.convolution_backward(
        go,
        x,
        w,
        None,
        list(m.stride),
        list(pad),
        list(m.dilation),
        False,
        [0] * nd,
        c * m.groups,
        [False, True, False],
    )[1]
    return gw.reshape(c, -1)


def _affine_layer_sq(tap: Tap, recs: list) -> torch.Tensor:
    """Linear / conv: per-example ‖Σ_t g_t a_tᵀ‖² (+ ‖Σ_t g_t‖² for the bias), calls pooled.

    Per layer, the cheaper by a FLOP estimate of materialising the per-example weight gradients
    (T·K·Out; for a conv by a grouped weight-gradient convolution or by patches + bmm, see
    ``_CONV_MAT``) and the ghost norm Σ_{t,t'} (g_t·g_t')(a_t·a_t') (T²·(K+Out), weighted by
    ``_GHOST_COST``). Products in float32 as autograd's own; the per-example sums in float64.
    """
    m = tap.module
    conv = tap.kind == "conv"
    B = recs[0][0].shape[0]
    if conv:
        groups, Out, K = m.groups, m.out_channels, m.in_channels * math.prod(m.kernel_size)
        T = sum(math.prod(r[2].shape[2:]) for r in recs)
    else:
        groups, Out, K = 1, m.out_features, m.in_features
        T = sum(r[2][0].numel() // Out for r in recs)
    Kg, Og = K // groups, Out // groups
    grouped = conv and (_CONV_MAT == "grouped" or (_CONV_MAT == "auto" and m.in_channels // groups >= 8))
    if not conv and T == 1:
        mode, per_ex = "rank1", K + Out
    elif _MODE == "mat" or (_MODE == "auto" and T * Kg * Og <= _GHOST_COST * T * T * (Kg + Og)):
        mode, per_ex = "mat", 2 * Out * Kg + (K + Out) * T
    else:
        mode, per_ex = "ghost", (K + Out) * T + 3 * groups * T * T
    chunk = max(1, CHUNK_ELEMS // max(1, per_ex))
    out = torch.zeros(B, dtype=torch.float64, device=recs[0][0].device)
    for lo in range(0, B, chunk):
        hi = min(B, lo + chunk)
        c = hi - lo
        parts = [(r[0][lo:hi], r[2][lo:hi]) for r in recs]
        # Sums of squares (positive terms only) in float32, their (c,) results in float64.
        if tap.bias:
            gb = sum(g.reshape(c, Out, -1).sum(2) if conv else g.reshape(c, -1, Out).sum(1) for _, g in parts)
            out[lo:hi] += gb.square().sum(1).double()
        if not tap.weight:
            continue
        if mode == "rank1":
            a, g = parts[0]
            out[lo:hi] += a.reshape(c, -1).square().sum(1).double() * g.reshape(c, -1).square().sum(1).double()
        elif mode == "mat":
            W = None
            for a, g in parts:
                if conv and grouped:
                    a, pad = _conv_input(m, a)
                    w = _conv_weight_grads(m, a, g, pad)
                elif conv:
                    a, pad = _conv_input(m, a)
                    P = _unfold(m, a, pad).reshape(c * groups, Kg, -1)  # patches
                    w = torch.bmm(g.reshape(c * groups, Og, -1), P.transpose(1, 2))
                else:
                    w = torch.bmm(g.reshape(c, -1, Out).transpose(1, 2), a.reshape(c, -1, K))
                W = w if W is None else W + w
            out[lo:hi] += W.reshape(c, -1).square().sum(1).double()
        else:
            As, Gs = [], []
            for a, g in parts:
                if conv:
                    a, pad = _conv_input(m, a)
                    As.append(_unfold(m, a, pad))  # (c, K, T_call)
                    Gs.append(g.reshape(c, Out, -1))
                else:
                    As.append(a.reshape(c, -1, K).transpose(1, 2))
                    Gs.append(g.reshape(c, -1, Out).transpose(1, 2))
            A = torch.cat(As, 2).reshape(c * groups, Kg, T)
            G = torch.cat(Gs, 2).reshape(c * groups, Og, T)
            # Gram matrices in float32, their (signed) elementwise products summed in float64.
            sq = (torch.bmm(A.transpose(1, 2), A) * torch.bmm(G.transpose(1, 2), G)).sum((1, 2), dtype=torch.float64)
            out[lo:hi] += sq.view(c, groups).sum(1)
    return out


def _norm_layer_sq(tap: Tap, recs: list) -> torch.Tensor:
    """Batch/layer/group norm: per-example scale grad Σ g·x̂ and shift grad Σ g, calls summed."""
    m = tap.module
    gw = gb = None
    for a, _, g in recs:
        B = a.shape[0]
        if isinstance(m, nn.LayerNorm):
            d = math.prod(m.normalized_shape)
            a, g = a.reshape(B, -1, d).transpose(1, 2), g.reshape(B, -1, d).transpose(1, 2)  # (B, d, pos)
        else:
            a, g = a.reshape(B, a.shape[1], -1), g.reshape(B, g.shape[1], -1)  # (B, C, pos)
        b = g.sum(2)
        if tap.bias:
            gb = b if gb is None else gb + b
        if not tap.weight:
            continue
        if isinstance(m, BN) and m.running_mean is not None:
            # x̂ = (a − μ)/σ with running statistics: Σ g·x̂ = (Σ g·a − μ Σ g)/σ, no x̂ formed.
            w = ((g * a).sum(2) - m.running_mean * b) * torch.rsqrt(m.running_var + m.eps)
        else:
            if isinstance(m, BN):  # no running statistics: the batch's own
                xh = F.batch_norm(a, None, None, None, None, True, 0.0, m.eps)
            elif isinstance(m, nn.LayerNorm):
                xh = F.layer_norm(a.transpose(1, 2), (a.shape[1],), None, None, m.eps).transpose(1, 2)
            else:
                xh = F.group_norm(a, m.num_groups, None, None, m.eps)
            w = (g * xh).sum(2)
        gw = w if gw is None else gw + w
    return sum(v.square().sum(1).double() for v in (gw, gb) if v is not None)


def _embed_layer_sq(tap: Tap, recs: list) -> torch.Tensor:
    """Embedding: per-example ‖Σ_t onehot(id_t) g_tᵀ‖² = Σ_v ‖Σ_{t: id_t = v} g_t‖², calls pooled.

    Each example's output gradients are summed per distinct (example, id) pair (one sort and one
    ``index_add``: O(positions · dim), whatever the vocabulary size); positions holding
    ``padding_idx`` get no gradient and are left out."""
    m = tap.module
    V, D = m.num_embeddings, m.embedding_dim
    B = recs[0][0].shape[0]
    dev = recs[0][0].device
    keys, grads = [], []
    for a, _, g in recs:
        ids = a.reshape(B, -1).long()
        k = torch.arange(B, device=dev)[:, None] * V + ids  # (example, id) as one key
        g = g.reshape(B, -1, D)
        if m.padding_idx is not None:
            keep = ids != m.padding_idx
            k, g = k[keep], g[keep]
        keys.append(k.reshape(-1))
        grads.append(g.reshape(-1, D))
    k, g = torch.cat(keys), torch.cat(grads)
    out = torch.zeros(B, dtype=torch.float64, device=dev)
    if k.numel():
        uniq, inv = torch.unique(k, return_inverse=True)
        per_id = torch.zeros(uniq.numel(), D, dtype=g.dtype, device=dev).index_add_(0, inv, g)
        out.index_add_(0, uniq // V, per_id.square().sum(1).double())
    return out


# The rule of each kind of covered layer: (tap, its calls' [input, version, output grad]) -> (B,) float64.
RULES = {"linear": _affine_layer_sq, "conv": _affine_layer_sq, "norm": _norm_layer_sq, "embed": _embed_layer_sq}


def layer_sq(tap: Tap, recs: list) -> torch.Tensor:
    """The covered layer's per-example squared gradient norms (B,) float64, by its kind's rule."""
    return RULES[tap.kind](tap, recs)

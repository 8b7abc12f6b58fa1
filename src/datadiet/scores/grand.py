"""GraNd (Paul et al. 2021): ‖∇θ CE(f(x), y)‖₂ over every trainable parameter, per example.

:func:`grand` is exact and batched. One forward pass records each covered layer's input; one
backward pass of the *summed* cross-entropy (so each example's output gradient is its own
per-example gradient) delivers each covered layer's output gradient; each layer's per-example
squared gradient norm is then computed from that (input, output-gradient) pair, and the norms are
added over layers (they cover disjoint parameters) and square-rooted at the end. The per-example
weight gradients are never formed by autograd, so the backward pass skips the weight-gradient
products of the covered layers entirely.

Covered exactly (by exact type, so a subclass with its own ``forward`` is not assumed to behave):

* ``nn.Linear`` (inputs ``(N, in)`` or ``(N, ..., in)``): for one position the squared norm is the
  rank-one ``‖a‖²‖g‖²``; for several positions, whichever is cheaper of materialising
  ``Σ_t g_t a_tᵀ`` or the "ghost norm" ``Σ_{t,t'} (g_t·g_t')(a_t·a_t')``;
* ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Conv3d`` with any stride, padding (incl. ``'same'`` and
  non-zero padding modes), dilation and groups: the per-example weight gradients by one grouped
  weight-gradient convolution (examples as groups) or by strided patches + ``bmm``, or the ghost
  norm over the patches, by the same per-layer FLOP estimate;
* ``nn.BatchNorm1d/2d/3d`` (eval: running statistics), ``nn.LayerNorm``, ``nn.GroupNorm``:
  the per-example gradient of the scale is ``Σ_positions g·x̂``, of the shift ``Σ_positions g``;
* ``nn.Embedding`` (integer inputs ``(N, ...)``, e.g. token ids): the per-example weight gradient
  is ``Σ_v ‖Σ_{t: id_t = v} g_t‖²``, by summing each example's output gradients per distinct id
  (positions holding ``padding_idx`` left out); an embedding with ``max_norm``,
  ``scale_grad_by_freq`` or ``sparse`` set goes to the fallback;
* bias terms of all of the above; a module called several times in one forward is handled exactly
  (its calls are pooled before the norm, so cross terms between calls are kept).

Any other module with trainable parameters of its own (``nn.PReLU``, RNNs, attention, a custom
module holding an ``nn.Parameter``, a parameter shared between modules, a covered layer that is
never called through ``__call__``) is scored exactly by a slower fallback - ``torch.func``
``vmap(grad)`` over just those parameters, or a per-example loop if ``vmap`` fails - with a
warning that names each such module and why.

The fast path assumes that in eval mode example ``i``'s logits depend only on input ``i``, that
each covered layer's parameters are used only inside that layer's own call, and that covered
layers see the batch in dimension 0 (all true of every model in :mod:`datadiet.models`). User
models may break any of these, so on the first batch of each call, besides the shape checks of
every batch:

* the forward of one example runs under a :class:`torch.overrides.TorchFunctionMode` that notes
  every torch function given a covered parameter while its module's forward is not running (tied
  weights: ``F.linear(h, self.emb.weight)``, ``x @ self.fc.weight.T``): such a layer is demoted to
  the fallback;
* the fast path runs on the batch's first few (``_CHECK_BATCH``) examples, the two of them with the
  highest loss are each run alone through plain autograd, and every covered layer whose squared
  gradient norm for such an example disagrees with its batched value (rel. 1e-3) is demoted. This
  catches e.g. a sequence-first layout ``(T, N, D)`` with ``T`` equal to the number of examples,
  which the shape check cannot see (with any other number the shape check demotes the layer);
* if such an example's logits alone differ from its logits in the batch (the model mixes examples
  in eval mode, as a batch-norm layer without running statistics does), the whole call is scored
  one example at a time (matching :func:`grand_loop`), with a warning.

A model that raises on the inputs gives a :class:`~datadiet.errors.DataDietError` naming the
inputs' shape and dtype and the error.

``last_layer=True`` is a different, cheaper quantity: the closed form ``‖softmax − onehot‖ ·
sqrt(‖h‖² + 1)`` of the final ``nn.Linear`` layer's gradient only. It is an approximation of GraNd
(it ignores every other layer), never the default.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from datadiet.errors import DataDietError
from datadiet.scores._common import (
    batches,
    check_logits,
    forward,
    model_failed,
    prepare,
    scoring_mode,
    streams,
    to_numpy,
)

# Upper bound (in float32 elements, ~8 MiB) on the temporaries of one chunk of a layer's norm:
# small enough for the allocator to reuse memory between chunks instead of mapping fresh pages.
_CHUNK_ELEMS = 1 << 21
# Per layer with several positions: "mat" (materialise per-example weight gradients), "ghost"
# (ghost norm), or "auto": the cheaper by the FLOP estimate T·K·O vs _GHOST_COST·T²·(K + O).
_MODE = "auto"
_GHOST_COST = 2.0  # measured: a ghost-norm FLOP costs about twice a materialising one on CPU
# How per-example conv weight gradients are materialised: "grouped" (one weight-gradient
# convolution with the examples as groups: no patch copy, best for wide inputs), "patches" (strided
# patch copy + bmm: best for few input channels, where the grouped kernel is slow and, on a loaded
# CPU, stalls), or "auto": patches below 8 input channels per group, grouped from 8 up.
_CONV_MAT = "auto"

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_KIND: dict[type, str] = {
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
# First-batch check of the fast path against single examples run alone: tolerance per layer.
_CHECK_RTOL = 1e-3
_CHECK_ATOL = 1e-6  # times the example's total squared norm over the covered layers
_LOGITS_RTOL = 1e-4  # times the largest |logit| of the example (plus the same absolutely)
_CHECK_BATCH = 8  # the check runs the fast path on this many examples of the first batch
# Tensor attributes and methods that read only metadata (or cut the graph): a covered parameter
# passed to these is not "used" for the purpose of the outside-use check.
_META = frozenset(
    {
        "shape",
        "dtype",
        "device",
        "requires_grad",
        "is_leaf",
        "grad",
        "grad_fn",
        "ndim",
        "layout",
        "is_cuda",
        "is_sparse",
        "is_quantized",
        "is_meta",
        "names",
        "data",
        "_version",
        "itemsize",
        "nbytes",
        "size",
        "dim",
        "numel",
        "stride",
        "is_floating_point",
        "is_complex",
        "is_contiguous",
        "element_size",
        "data_ptr",
        "storage_offset",
        "ndimension",
        "nelement",
        "get_device",
        "detach",
        "__len__",
        "__hash__",
        "requires_grad_",
        "untyped_storage",
    }
)


def grand_loop(model: nn.Module, inputs, targets, *, batch_size: int = 1) -> np.ndarray:
    """GraNd by one backward pass per example (exact, slow): the reference implementation."""
    x, y, _ = prepare(model, inputs, targets, batch_size)
    out = np.empty(x.shape[0], dtype=np.float64)
    with scoring_mode(model):
        params = [p for p in model.parameters() if p.requires_grad]
        for i in range(x.shape[0]):
            logits = forward(model, x[i : i + 1])
            check_logits(logits, y[i : i + 1])
            grads = torch.autograd.grad(F.cross_entropy(logits, y[i : i + 1]), params)
            out[i] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    return out


@streams
def grand(model: nn.Module, inputs, targets, *, batch_size: int = 256, last_layer: bool = False) -> np.ndarray:
    """GraNd per example, model in eval mode: ‖∇θ CE(f(x), y)‖₂ over all trainable parameters.

    Exact (see the module docstring for how), batched, shape (N,) float64, and independent of
    ``batch_size``. Frozen parameters (``requires_grad=False``) are left out, as in
    :func:`grand_loop`. The model's mode, parameters, ``.grad`` and ``requires_grad`` are left as
    they were.

    ``last_layer=True`` returns instead the norm of the gradient of the final ``nn.Linear`` layer's
    parameters only, in closed form: an approximation of GraNd, not GraNd.
    """
    x, y, batch_size = prepare(model, inputs, targets, batch_size)
    if not isinstance(last_layer, bool):
        raise DataDietError(f"last_layer must be True or False, got {last_layer!r}")
    n = x.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.float64)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with scoring_mode(model), torch.enable_grad():
        if last_layer:
            return to_numpy(_last_layer(model, x, y, batch_size, device).sqrt())
        scorer = _Scorer(model)
        if scorer.per_example:
            warnings.warn(
                "grand: the model has batch-norm layers without running statistics, whose eval "
                "output depends on the whole batch; scoring one example at a time",
                stacklevel=2,
            )
            batch_size = 1
        sq = scorer.run(x, y, batch_size, device)
    return to_numpy(sq.clamp_min(0).sqrt())


# --------------------------------------------------------------------------------------------
# The fast path: hooks on covered layers, one backward per batch.


class _Tap:
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


@contextmanager
def _full_fp32(device: torch.device):
    """TF32 off for CUDA matrix products and convolutions (as it is by default on a CPU)."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class _OutsideUse(TorchFunctionMode):
    """Notes every covered module whose parameter is given to a torch function (or tensor method)
    while that module's own forward is not running: a use the module's hooks cannot see."""

    def __init__(self, owner: dict[int, nn.Module], depth: dict[nn.Module, int]):
        super().__init__()
        self.owner = owner
        self.depth = depth
        self.found: dict[nn.Module, set[str]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "__get__":  # a tensor attribute: the descriptor's own name
            name = getattr(getattr(func, "__self__", None), "__name__", name)
        if name not in _META:
            stack = [args, kwargs]
            while stack:
                v = stack.pop()
                if isinstance(v, torch.Tensor):
                    m = self.owner.get(id(v))
                    if m is not None and not self.depth.get(m):
                        pname = next(k for k, p in m._parameters.items() if p is v)
                        self.found.setdefault(m, set()).add(pname)
                elif isinstance(v, (list, tuple)):
                    stack.extend(v)
                elif isinstance(v, dict):
                    stack.extend(v.values())
        return func(*args, **kwargs)


class _Scorer:
    def __init__(self, model: nn.Module):
        self.model = model
        self.taps: dict[nn.Module, _Tap] = {}
        self.fallback: dict[nn.Module, list[nn.Parameter]] = {}
        self.why: dict[nn.Module, str] = {}  # why each fallback module is not on the fast path
        self.clone_inputs: set[nn.Module] = set()
        self.clone_leaves = False
        owners: dict[int, int] = {}
        mods = list(model.modules())
        self.names = {m: (name or "(model)") for name, m in model.named_modules()}
        for m in mods:
            for p in m._parameters.values():
                if p is not None and p.requires_grad:
                    owners[id(p)] = owners.get(id(p), 0) + 1
        for m in mods:
            own = {k: p for k, p in m._parameters.items() if p is not None and p.requires_grad}
            if not own:
                continue
            kind = _KIND.get(type(m))
            why = None
            if kind is None:
                why = f"has no fast rule for {type(m).__name__}"
            elif not set(own) <= {"weight", "bias"}:
                why = f"has parameters other than weight and bias ({', '.join(sorted(own))})"
            elif any(owners[id(p)] > 1 for p in own.values()):
                why = "shares a parameter with another module"
            elif kind == "embed" and (m.max_norm is not None or m.scale_grad_by_freq or m.sparse):
                flags = [f for f in ("max_norm", "scale_grad_by_freq", "sparse") if getattr(m, f) not in (None, False)]
                why = f"has {', '.join(flags)} set"
            if why is None:
                self.taps[m] = _Tap(m, kind, set(own))
            else:
                self.fallback[m] = list(own.values())
                self.why[m] = why
        self.per_example = any(isinstance(m, _BN) and m.running_mean is None for m in mods)
        self.active = False
        self.acc: dict[nn.Module, torch.Tensor] = {}

    # -- bookkeeping ----------------------------------------------------------------------------

    def _demote(self, m: nn.Module, why: str) -> None:
        """Move a covered module to the exact fallback (its fast-path assumptions failed)."""
        tap = self.taps.pop(m, None)
        if tap is not None:
            self.fallback[m] = tap.params()
            self.why[m] = why
            self.acc.pop(m, None)

    # -- hooks ---------------------------------------------------------------------------------

    def _forward_hook(self, module, args, output):
        tap = self.taps.get(module)
        if not self.active or tap is None:
            return None
        a = args[0] if args else None
        if not isinstance(a, torch.Tensor) or not isinstance(output, torch.Tensor):
            self.bad[module] = "is called with or returns something other than one tensor"
            return None
        if tap.kind == "embed":
            ok = a.ndim >= 1 and tuple(output.shape) == (*a.shape, module.embedding_dim)
        else:
            ok = a.ndim >= 2 and (tap.kind != "conv" or a.ndim == len(module.kernel_size) + 2)
        if not ok:
            self.bad[module] = f"gets an input of shape {tuple(a.shape)} without a batch dimension"
            return None
        if a.shape[0] != self.B or output.shape[0] != self.B:
            self.bad[module] = (
                f"gets an input of shape {tuple(a.shape)}, whose dimension 0 is not the batch of {self.B}"
            )
            return None
        a = a.detach().clone() if module in self.clone_inputs else a.detach()
        rec = [a, a._version, None]
        tap.calls.append(rec)
        ret = None
        if not output.requires_grad:
            # Nothing upstream is differentiated: start the graph here, at a leaf (handed on as a
            # copy only if an in-place op downstream has already refused the leaf itself).
            leaf = output.detach().requires_grad_()
            self.leaves.append(leaf)
            output, ret = leaf, (leaf.clone() if self.clone_leaves else leaf)
        # A tensor hook sees the gradient with respect to the value at registration, even if the
        # tensor is later modified in place.
        output.register_hook(partial(self._grad_hook, tap, rec))
        return ret

    def _grad_hook(self, tap: _Tap, rec: list, g: torch.Tensor):
        rec[2] = g.detach()
        tap.received += 1
        if tap.received == len(tap.calls):
            self._flush(tap)

    def _flush(self, tap: _Tap) -> None:
        recs = [r for r in tap.calls if r[2] is not None]
        tap.reset()
        if not recs:
            return
        if any(r[0]._version != r[1] for r in recs):
            # The layer's input was modified in place after the layer used it: redo the batch
            # keeping a copy of it.
            self.clone_inputs.add(tap.module)
            self.retry = True
            return
        with torch.no_grad():
            if tap.kind == "norm":
                sq = _norm_layer_sq(tap, recs)
            elif tap.kind == "embed":
                sq = _embed_layer_sq(tap, recs)
            else:
                sq = _affine_layer_sq(tap, recs)
        self.batch_sq[tap.module] = sq

    # -- driver --------------------------------------------------------------------------------

    def run(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> torch.Tensor:
        n = x.shape[0]
        fallback_batch = batch_size
        if self.taps:
            saved = [(p, p.requires_grad) for p in self.model.parameters()]
            handles = [m.register_forward_hook(self._forward_hook) for m in list(self.taps)]
            try:
                # No parameter needs a gradient from autograd: the per-example norms come from the
                # hooks, so the weight-gradient products of the backward pass are skipped.
                for p, _ in saved:
                    p.requires_grad_(False)
                while True:
                    self.acc = {m: torch.zeros(n, dtype=torch.float64) for m in self.taps}
                    mixes = False
                    for s in batches(n, batch_size):
                        xb, yb = x[s].detach().to(device), y[s].to(device)
                        if s.start == 0:
                            if not self._first_batch(xb, yb, s):
                                mixes = True
                                break
                        elif not self.taps:
                            break  # all demoted on the first batch: the fallback does it all
                        else:
                            self._batch(xb, yb, s)
                    if not mixes:
                        break
                    if batch_size == 1:
                        raise DataDietError(
                            "model gives different logits for the same example in two forward "
                            "passes in eval mode (random?): GraNd of it is not well defined"
                        )
                    warnings.warn(
                        "grand: the model's logits for an example alone differ from its logits in "
                        "the batch (the model mixes examples in eval mode); scoring one example "
                        "at a time",
                        stacklevel=3,
                    )
                    batch_size = 1
            finally:
                self.active = False
                for h in handles:
                    h.remove()
                for p, rg in saved:
                    p.requires_grad_(rg)
        elif self.fallback and n:
            with torch.no_grad():  # a model failing on the inputs: say so before any fallback
                forward(self.model, x[:1].to(device))
        total = torch.zeros(n, dtype=torch.float64)
        for v in self.acc.values():
            total += v
        if self.fallback:
            warnings.warn(
                f"grand: {self._fallback_note()}; scored by the slower exact per-example fallback "
                "(torch.func.vmap, or a loop)",
                stacklevel=3,
            )
            params = []
            seen = set()
            for ps in self.fallback.values():
                for p in ps:
                    if id(p) not in seen:
                        seen.add(id(p))
                        params.append(p)
            total += _fallback_sq(self.model, params, x, y, fallback_batch, device)
        return total

    def _fallback_note(self, limit: int = 12) -> str:
        items = sorted(self.fallback, key=lambda m: (type(m).__name__, self.names.get(m, "")))
        parts = [
            f"{type(m).__name__} '{self.names.get(m, '?')}' {self.why.get(m, 'is not covered')}" for m in items[:limit]
        ]
        if len(items) > limit:
            parts.append(f"and {len(items) - limit} more")
        return "; ".join(parts)

    def _first_batch(self, xb: torch.Tensor, yb: torch.Tensor, s: slice) -> bool:
        """The first batch, after checking the fast path on its first ``_CHECK_BATCH`` examples
        against single examples run alone (see the module docstring).

        Adds the batch's values to the totals and returns True; returns False (adding nothing) if
        the model mixes examples, so that the caller scores one example at a time. The check runs
        in full float32 (no TF32 on a GPU), so that rounding cannot pass for a broken assumption;
        on a few examples, so that it costs little beside the batch itself."""
        k = min(xb.shape[0], _CHECK_BATCH)
        with _full_fp32(xb.device):
            ok = self._check(xb[:k], yb[:k], s.start)
        if not ok:
            return False
        if k == xb.shape[0] and not self.demoted_now:
            self._commit(s)  # the checked values are this batch's values
        elif self.taps:
            self._batch(xb, yb, s)
        return True

    def _check(self, xb: torch.Tensor, yb: torch.Tensor, start: int) -> bool:
        """Runs the fast path on (xb, yb), then its two highest-loss examples alone; demotes every
        covered layer that uses its parameters outside its own call or whose value disagrees.
        False if an example's logits alone differ from those in the batch."""
        self.demoted_now = False
        n_taps = len(self.taps)
        logits = self._batch(xb, yb, slice(start, start + xb.shape[0]), commit=False)
        self.demoted_now = len(self.taps) != n_taps  # by the shape checks
        if not self.taps:
            return True
        with torch.no_grad():
            ce = F.cross_entropy(logits.double(), yb, reduction="none")
        probes = torch.argsort(ce, descending=True, stable=True)[:2].tolist()
        demote: dict[nn.Module, str] = {}
        for k, i in enumerate(probes):
            exact, alone, outside = self._probe(xb[i : i + 1], yb[i : i + 1], watch=k == 0)
            for m, pnames in outside.items():
                demote[m] = f"uses its {' and '.join(sorted(pnames))} outside its own call"
            lb = logits[i].double()
            tol = _LOGITS_RTOL * (1.0 + float(alone.abs().max()))
            if alone.shape != lb.shape or float((alone - lb).abs().max()) > tol:
                for m, why in demote.items():
                    self._demote(m, why)
                return False
            mods = [m for m in self.taps if m not in demote]
            zero = torch.zeros((), dtype=torch.float64, device=xb.device)
            fast = torch.stack([self.batch_sq[m][i] if m in self.batch_sq else zero for m in mods]).tolist()
            total = sum(exact.values(), 0.0)
            for m, f in zip(mods, fast, strict=True):
                ref = exact.get(m, 0.0)
                if abs(f - ref) > _CHECK_RTOL * max(f, ref) + _CHECK_ATOL * total + 1e-30:
                    demote[m] = (
                        f"gives example {start + i} a different gradient in the batch than "
                        "alone (is dimension 0 of its input the batch?)"
                    )
        for m, why in demote.items():
            self._demote(m, why)
        self.demoted_now = self.demoted_now or bool(demote)
        return True

    def _probe(self, xi: torch.Tensor, yi: torch.Tensor, watch: bool):
        """One example alone through plain autograd: the squared gradient norm of each covered
        module, the logits, and (with ``watch``) the covered modules whose parameters are used
        outside their own call."""
        taps = list(self.taps.values())
        params = [p for t in taps for p in t.params()]
        owner = {id(p): t.module for t in taps for p in t.params()}
        depth: dict[nn.Module, int] = {}

        def enter(m, args):
            depth[m] = depth.get(m, 0) + 1

        def leave(m, args, out):
            depth[m] = depth.get(m, 0) - 1

        handles = []
        mode = _OutsideUse(owner, depth) if watch else None
        threads = torch.get_num_threads()
        if xi.device.type == "cpu":
            torch.set_num_threads(1)  # one example's tiny ops: one thread is faster, and the value the same
        try:
            for t in taps:
                handles.append(t.module.register_forward_pre_hook(enter))
                handles.append(t.module.register_forward_hook(leave, always_call=True))
            for p in params:
                p.requires_grad_(True)
            if mode is not None:
                with mode:
                    logits = forward(self.model, xi)
            else:
                logits = forward(self.model, xi)
            check_logits(logits, yi)
            loss = F.cross_entropy(logits, yi)
            grads = torch.autograd.grad(loss, params, allow_unused=True) if loss.requires_grad else [None] * len(params)
        finally:
            torch.set_num_threads(threads)
            for h in handles:
                h.remove()
            for p in params:
                p.requires_grad_(False)
        sq = [g.double().square().sum() for g in grads if g is not None]
        sq = iter(torch.stack(sq).tolist() if sq else [])
        exact: dict[nn.Module, float] = {}
        for p, g in zip(params, grads, strict=True):
            m = owner[id(p)]
            exact[m] = exact.get(m, 0.0) + (0.0 if g is None else next(sq))
        return exact, logits.detach()[0].double(), (mode.found if mode is not None else {})

    def _commit(self, s: slice) -> None:
        for m, sq in self.batch_sq.items():
            if m in self.acc:
                self.acc[m][s] += sq.to("cpu", torch.float64)

    def _batch(self, xb: torch.Tensor, yb: torch.Tensor, s: slice, commit: bool = True) -> torch.Tensor:
        while True:
            self.B = xb.shape[0]
            self.leaves: list[torch.Tensor] = []
            self.bad: dict[nn.Module, str] = {}
            self.retry = False
            self.batch_sq: dict[nn.Module, torch.Tensor] = {}
            for tap in self.taps.values():
                tap.reset()
            self.active = True
            try:
                logits = self.model(xb)
            except RuntimeError as e:
                if self.clone_leaves or "leaf Variable" not in str(e):
                    raise model_failed(xb, e) from e
                self.clone_leaves = True  # an in-place op on a layer output we made a leaf: copy
                continue
            except DataDietError:
                raise
            except Exception as e:  # whatever the user's model raises
                raise model_failed(xb, e) from e
            finally:
                self.active = False
            check_logits(logits, yb)
            # A covered layer never called through __call__ may still use its parameters
            # (functionally): only the fallback can be sure of it.
            for m, t in self.taps.items():
                if not t.calls and m not in self.bad:
                    self.bad[m] = "is never called as a module"
            if self.bad:
                for m, why in self.bad.items():
                    self._demote(m, why)
                continue
            loss = F.cross_entropy(logits, yb, reduction="sum")
            if self.leaves and loss.requires_grad:
                torch.autograd.grad(loss, self.leaves, allow_unused=True)
            out = logits.detach()
            del loss, logits
            for tap in self.taps.values():
                if tap.calls:
                    self._flush(tap)
            if self.retry:
                continue
            if commit:
                self._commit(s)
            return out


# --------------------------------------------------------------------------------------------
# Per-layer per-example squared norms from (input, output gradient) pairs.


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


def _affine_layer_sq(tap: _Tap, recs: list) -> torch.Tensor:
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
    chunk = max(1, _CHUNK_ELEMS // max(1, per_ex))
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


def _norm_layer_sq(tap: _Tap, recs: list) -> torch.Tensor:
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
        if isinstance(m, _BN) and m.running_mean is not None:
            # x̂ = (a − μ)/σ with running statistics: Σ g·x̂ = (Σ g·a − μ Σ g)/σ, no x̂ formed.
            w = ((g * a).sum(2) - m.running_mean * b) * torch.rsqrt(m.running_var + m.eps)
        else:
            if isinstance(m, _BN):  # no running statistics: the batch's own
                xh = F.batch_norm(a, None, None, None, None, True, 0.0, m.eps)
            elif isinstance(m, nn.LayerNorm):
                xh = F.layer_norm(a.transpose(1, 2), (a.shape[1],), None, None, m.eps).transpose(1, 2)
            else:
                xh = F.group_norm(a, m.num_groups, None, None, m.eps)
            w = (g * xh).sum(2)
        gw = w if gw is None else gw + w
    return sum(v.square().sum(1).double() for v in (gw, gb) if v is not None)


def _embed_layer_sq(tap: _Tap, recs: list) -> torch.Tensor:
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


# --------------------------------------------------------------------------------------------
# The exact fallback for parameters of modules without a rule.


def _fallback_sq(model: nn.Module, params: list[nn.Parameter], x, y, batch_size: int, device) -> torch.Tensor:
    from torch.func import functional_call, grad, vmap

    n = x.shape[0]
    ids = {id(p) for p in params}
    names = {name: p for name, p in model.named_parameters() if id(p) in ids}
    size = sum(p.numel() for p in names.values())
    chunk = max(1, min(batch_size, _CHUNK_ELEMS // max(1, size)))
    saved = [(p, p.requires_grad) for p in model.parameters()]
    out = torch.zeros(n, dtype=torch.float64)
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        detached = {k: p.detach() for k, p in names.items()}

        def loss_one(ps, xi, yi):
            logits = functional_call(model, ps, (xi.unsqueeze(0),))
            return F.cross_entropy(logits, yi.unsqueeze(0))

        per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))
        try:
            for s in batches(n, chunk):
                gs = per_example(detached, x[s].to(device), y[s].to(device))
                out[s] = sum(g.reshape(g.shape[0], -1).double().square().sum(1).cpu() for g in gs.values())
            return out
        except Exception as e:  # any vmap failure: use the plain loop instead
            warnings.warn(
                f"grand: torch.func.vmap failed on this model ({type(e).__name__}); "
                "using a per-example loop for the uncovered parameters",
                stacklevel=4,
            )
        plist = list(names.values())
        for p in plist:
            p.requires_grad_(True)
        for i in range(n):
            logits = forward(model, x[i : i + 1].to(device))
            gs = torch.autograd.grad(F.cross_entropy(logits, y[i : i + 1].to(device)), plist, allow_unused=True)
            out[i] = float(sum((g.double() ** 2).sum() for g in gs if g is not None))
        return out
    finally:
        for p, rg in saved:
            p.requires_grad_(rg)


# --------------------------------------------------------------------------------------------
# The last-layer closed form (an approximation; opt-in only).


def _last_layer(model: nn.Module, x, y, batch_size: int, device) -> torch.Tensor:
    seen: list = []

    def hook(module, args, output):
        seen.append((module, args[0] if args else None, output))

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) is nn.Linear]
    out = torch.zeros(x.shape[0], dtype=torch.float64)
    try:
        with torch.no_grad():
            for s in batches(x.shape[0], batch_size):
                seen.clear()
                logits = forward(model, x[s].to(device))
                check_logits(logits, y[s])
                if not seen or seen[-1][2] is not logits or seen[-1][1] is None or seen[-1][1].ndim != 2:
                    raise DataDietError(
                        "last_layer=True needs a model whose logits come straight from an nn.Linear layer"
                    )
                m, h, _ = seen[-1]
                yb = y[s].to(device)
                p = torch.softmax(logits.double(), 1)
                e = (p * p).sum(1) - 2 * p.gather(1, yb[:, None]).squeeze(1) + 1  # ‖p − onehot‖²
                scale = torch.zeros_like(e)
                if m.weight.requires_grad:
                    scale += h.double().square().sum(1)
                if m.bias is not None and m.bias.requires_grad:
                    scale += 1
                out[s] = (e.clamp_min(0) * scale).cpu()
    finally:
        for h in handles:
            h.remove()
    return out

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
* the fast path runs on the batch's first few (``grand_exact.CHECK_BATCH``) examples, the two of them with the
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

The parts: this module (the public functions and the ``last_layer`` closed form),
:mod:`~datadiet.scores.grand_scorer` (the fast path's hooks and driver),
:mod:`~datadiet.scores.grand_rules` (the per-layer rules), :mod:`~datadiet.scores.grand_exact`
(the first-batch checks) and :mod:`~datadiet.scores.grand_fallback` (the exact fallback).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from datadiet.errors import DataDietError
from datadiet.scores._common import batches, check_logits, forward, prepare, scoring_mode, streams, to_numpy
from datadiet.scores.grand_scorer import Scorer


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
        scorer = Scorer(model)
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

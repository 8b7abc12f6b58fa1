"""GraNd's exactness checks: whether a covered layer's fast rule really applies to a user's model
(see :mod:`datadiet.scores.grand`, "The fast path assumes ...").

* :class:`OutsideUse` notes covered parameters used outside their own module's call (tied weights);
* :func:`probe` runs one example alone through plain autograd: its per-module squared gradient
  norms and its logits, the reference the batched fast path is compared with;
* :func:`logits_differ` and :func:`disagreements` are those comparisons, with their tolerances;
* :func:`full_fp32` turns TF32 off while the check runs on a GPU.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from datadiet.scores._common import check_logits, forward
from datadiet.scores.grand_rules import Tap

# First-batch check of the fast path against single examples run alone: tolerance per layer.
_CHECK_RTOL = 1e-3
_CHECK_ATOL = 1e-6  # times the example's total squared norm over the covered layers
_LOGITS_RTOL = 1e-4  # times the largest |logit| of the example (plus the same absolutely)
CHECK_BATCH = 8  # the check runs the fast path on this many examples of the first batch
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


@contextmanager
def full_fp32(device: torch.device):
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


class OutsideUse(TorchFunctionMode):
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


def probe(model: nn.Module, taps: list[Tap], xi: torch.Tensor, yi: torch.Tensor, watch: bool):
    """One example alone through plain autograd: the squared gradient norm of each covered
    module, the logits, and (with ``watch``) the covered modules whose parameters are used
    outside their own call."""
    params = [p for t in taps for p in t.params()]
    owner = {id(p): t.module for t in taps for p in t.params()}
    depth: dict[nn.Module, int] = {}

    def enter(m, args):
        depth[m] = depth.get(m, 0) + 1

    def leave(m, args, out):
        depth[m] = depth.get(m, 0) - 1

    handles = []
    mode = OutsideUse(owner, depth) if watch else None
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
                logits = forward(model, xi)
        else:
            logits = forward(model, xi)
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


def logits_differ(alone: torch.Tensor, in_batch: torch.Tensor) -> bool:
    """Whether an example's logits alone (float64) differ from its logits in the batch (float64)."""
    tol = _LOGITS_RTOL * (1.0 + float(alone.abs().max()))
    return alone.shape != in_batch.shape or float((alone - in_batch).abs().max()) > tol


def disagreements(fast: dict[nn.Module, float], exact: dict[nn.Module, float], example: int) -> dict[nn.Module, str]:
    """The covered modules whose batched squared norm for an example (``fast``) disagrees with its
    value alone (``exact``), each with why; ``example`` is the example's index in the data."""
    total = sum(exact.values(), 0.0)
    out: dict[nn.Module, str] = {}
    for m, f in fast.items():
        ref = exact.get(m, 0.0)
        if abs(f - ref) > _CHECK_RTOL * max(f, ref) + _CHECK_ATOL * total + 1e-30:
            out[m] = (
                f"gives example {example} a different gradient in the batch than "
                "alone (is dimension 0 of its input the batch?)"
            )
    return out

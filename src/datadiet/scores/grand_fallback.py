"""GraNd's exact fallback for the parameters of modules without a fast rule (or whose fast rule
does not apply to the model): ``torch.func`` ``vmap(grad)`` over just those parameters, or a
per-example loop if ``vmap`` fails (see :mod:`datadiet.scores.grand`)."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from datadiet.scores._common import batches, forward
from datadiet.scores.grand_rules import CHUNK_ELEMS


def fallback_sq(model: nn.Module, params: list[nn.Parameter], x, y, batch_size: int, device) -> torch.Tensor:
    """Per-example squared norm (n,) float64 of the gradient of ``params`` only, exactly (warns if
    ``vmap`` fails and the per-example loop is used)."""
    n = x.shape[0]
    ids = {id(p) for p in params}
    names = {name: p for name, p in model.named_parameters() if id(p) in ids}
    size = sum(p.numel() for p in names.values())
    chunk = max(1, min(batch_size, CHUNK_ELEMS // max(1, size)))
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


def fallback_params(fallback: dict[nn.Module, list[nn.Parameter]]) -> list[nn.Parameter]:
    """The parameters of the fallback modules, each once, in order."""
    params = []
    seen = set()
    for ps in fallback.values():
        for p in ps:
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


def fallback_note(
    fallback: dict[nn.Module, list[nn.Parameter]],
    names: dict[nn.Module, str],
    why: dict[nn.Module, str],
    limit: int = 12,
) -> str:
    """The fallback modules (type, name, why each is not on the fast path) for the warning."""
    items = sorted(fallback, key=lambda m: (type(m).__name__, names.get(m, "")))
    parts = [f"{type(m).__name__} '{names.get(m, '?')}' {why.get(m, 'is not covered')}" for m in items[:limit]]
    if len(items) > limit:
        parts.append(f"and {len(items) - limit} more")
    return "; ".join(parts)

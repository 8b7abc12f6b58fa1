"""GraNd's fast path: the state machine that scores one call of :func:`datadiet.scores.grand`.

Hooks on the covered layers record each call's input and output gradient during one forward and
one backward pass per batch, and the layers' rules (:mod:`datadiet.scores.grand_rules`) turn them
into per-example squared norms; the first batch is checked against single examples
(:mod:`datadiet.scores.grand_exact`); layers whose fast rule does not apply are demoted to the
exact fallback (:mod:`datadiet.scores.grand_fallback`). See :mod:`datadiet.scores.grand`.
"""

from __future__ import annotations

import warnings
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from datadiet.errors import DataDietError
from datadiet.scores._common import batches, check_logits, forward, model_failed
from datadiet.scores.grand_exact import CHECK_BATCH, disagreements, full_fp32, logits_differ, probe
from datadiet.scores.grand_fallback import fallback_note, fallback_params, fallback_sq
from datadiet.scores.grand_rules import BN, KIND, Tap, layer_sq, uncovered_reason

_REDO = object()  # _forward's answer when the batch must be run again


def _coverage(model: nn.Module):
    """The model's covered modules (their taps) and the others with trainable parameters (their
    parameters, and why each is not covered)."""
    taps: dict[nn.Module, Tap] = {}
    fallback: dict[nn.Module, list[nn.Parameter]] = {}
    why: dict[nn.Module, str] = {}
    owners: dict[int, int] = {}
    mods = list(model.modules())
    for m in mods:
        for p in m._parameters.values():
            if p is not None and p.requires_grad:
                owners[id(p)] = owners.get(id(p), 0) + 1
    for m in mods:
        own = {k: p for k, p in m._parameters.items() if p is not None and p.requires_grad}
        if not own:
            continue
        kind = KIND.get(type(m))
        reason = uncovered_reason(m, kind, own, owners)
        if reason is None:
            taps[m] = Tap(m, kind, set(own))
        else:
            fallback[m] = list(own.values())
            why[m] = reason
    return taps, fallback, why


class Scorer:
    """Scores one call: :meth:`run` gives each example's squared gradient norm over all trainable
    parameters (the covered layers' fast path plus the fallback's)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.names = {m: (name or "(model)") for name, m in model.named_modules()}
        self.taps, self.fallback, self.why = _coverage(model)  # why: each fallback module's reason
        # batch-norm layers without running statistics mix the examples of a batch in eval mode
        self.per_example = any(isinstance(m, BN) and m.running_mean is None for m in model.modules())
        self.clone_inputs: set[nn.Module] = set()  # layers whose input is modified in place later
        self.clone_leaves = False  # hand on copies of the leaves started at layer outputs
        self.acc: dict[nn.Module, torch.Tensor] = {}  # per covered module: its (n,) totals
        self.active = False  # the forward hooks record only while True
        # the batch in progress (reset by _batch)
        self.B = 0
        self.leaves: list[torch.Tensor] = []
        self.bad: dict[nn.Module, str] = {}  # covered modules the batch showed unfit, and why
        self.retry = False
        self.batch_sq: dict[nn.Module, torch.Tensor] = {}
        self.demoted_now = False  # the first batch's check demoted a layer

    # -- bookkeeping ----------------------------------------------------------------------------

    def _demote(self, m: nn.Module, why: str) -> None:
        """Move a covered module to the exact fallback (its fast-path assumptions failed)."""
        tap = self.taps.pop(m, None)
        if tap is not None:
            self.fallback[m] = tap.params()
            self.why[m] = why
            self.acc.pop(m, None)

    def _commit(self, s: slice) -> None:
        for m, sq in self.batch_sq.items():
            if m in self.acc:
                self.acc[m][s] += sq.to("cpu", torch.float64)

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

    def _grad_hook(self, tap: Tap, rec: list, g: torch.Tensor):
        rec[2] = g.detach()
        tap.received += 1
        if tap.received == len(tap.calls):
            self._flush(tap)

    def _flush(self, tap: Tap) -> None:
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
            sq = layer_sq(tap, recs)
        self.batch_sq[tap.module] = sq

    # -- driver --------------------------------------------------------------------------------

    def run(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> torch.Tensor:
        n = x.shape[0]
        if self.taps:
            self._run_fast(x, y, batch_size, device)
        elif self.fallback and n:
            with torch.no_grad():  # a model failing on the inputs: say so before any fallback
                forward(self.model, x[:1].to(device))
        total = torch.zeros(n, dtype=torch.float64)
        for v in self.acc.values():
            total += v
        if self.fallback:
            warnings.warn(
                f"grand: {fallback_note(self.fallback, self.names, self.why)}; scored by the slower exact "
                "per-example fallback (torch.func.vmap, or a loop)",
                stacklevel=3,
            )
            total += fallback_sq(self.model, fallback_params(self.fallback), x, y, batch_size, device)
        return total

    def _run_fast(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> None:
        """The covered layers' totals into ``self.acc``, one example at a time if the model turns
        out to mix the examples of a batch."""
        saved = [(p, p.requires_grad) for p in self.model.parameters()]
        handles = [m.register_forward_hook(self._forward_hook) for m in list(self.taps)]
        try:
            # No parameter needs a gradient from autograd: the per-example norms come from the
            # hooks, so the weight-gradient products of the backward pass are skipped.
            for p, _ in saved:
                p.requires_grad_(False)
            while not self._pass(x, y, batch_size, device):
                if batch_size == 1:
                    raise DataDietError(
                        "model gives different logits for the same example in two forward "
                        "passes in eval mode (random?): GraNd of it is not well defined"
                    )
                warnings.warn(
                    "grand: the model's logits for an example alone differ from its logits in "
                    "the batch (the model mixes examples in eval mode); scoring one example "
                    "at a time",
                    stacklevel=4,
                )
                batch_size = 1
        finally:
            self.active = False
            for h in handles:
                h.remove()
            for p, rg in saved:
                p.requires_grad_(rg)

    def _pass(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> bool:
        """One pass over the batches into fresh totals; False (stopping there) if the first batch
        shows that the model mixes examples."""
        n = x.shape[0]
        self.acc = {m: torch.zeros(n, dtype=torch.float64) for m in self.taps}
        for s in batches(n, batch_size):
            xb, yb = x[s].detach().to(device), y[s].to(device)
            if s.start == 0:
                if not self._first_batch(xb, yb, s):
                    return False
            elif not self.taps:
                break  # all demoted on the first batch: the fallback does it all
            else:
                self._batch(xb, yb, s)
        return True

    def _first_batch(self, xb: torch.Tensor, yb: torch.Tensor, s: slice) -> bool:
        """The first batch, after checking the fast path on its first ``CHECK_BATCH`` examples
        against single examples run alone (see :mod:`datadiet.scores.grand`).

        Adds the batch's values to the totals and returns True; returns False (adding nothing) if
        the model mixes examples, so that the caller scores one example at a time. The check runs
        in full float32 (no TF32 on a GPU), so that rounding cannot pass for a broken assumption;
        on a few examples, so that it costs little beside the batch itself."""
        k = min(xb.shape[0], CHECK_BATCH)
        with full_fp32(xb.device):
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
            exact, alone, outside = probe(self.model, list(self.taps.values()), xb[i : i + 1], yb[i : i + 1], k == 0)
            for m, pnames in outside.items():
                demote[m] = f"uses its {' and '.join(sorted(pnames))} outside its own call"
            if logits_differ(alone, logits[i].double()):
                for m, why in demote.items():
                    self._demote(m, why)
                return False
            mods = [m for m in self.taps if m not in demote]
            zero = torch.zeros((), dtype=torch.float64, device=xb.device)
            fast = torch.stack([self.batch_sq[m][i] if m in self.batch_sq else zero for m in mods]).tolist()
            demote.update(disagreements(dict(zip(mods, fast, strict=True)), exact, start + i))
        for m, why in demote.items():
            self._demote(m, why)
        self.demoted_now = self.demoted_now or bool(demote)
        return True

    def _batch(self, xb: torch.Tensor, yb: torch.Tensor, s: slice, commit: bool = True) -> torch.Tensor:
        """One batch through the hooked model and one backward pass: its per-layer squared norms
        in ``batch_sq`` (added to the totals if ``commit``) and its logits. Demotes the layers the
        batch shows unfit (and redoes the batch); redoes it also when an in-place op needs copies."""
        while True:
            self._reset_batch(xb.shape[0])
            logits = self._forward(xb)
            if logits is _REDO:
                continue
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

    def _reset_batch(self, b: int) -> None:
        self.B = b
        self.leaves = []
        self.bad = {}
        self.retry = False
        self.batch_sq = {}
        for tap in self.taps.values():
            tap.reset()

    def _forward(self, xb: torch.Tensor):
        """The hooked model's logits on the batch; ``_REDO`` if the batch must be redone with copies
        of the leaves started at layer outputs (an in-place op refused a leaf)."""
        self.active = True
        try:
            return self.model(xb)
        except RuntimeError as e:
            if self.clone_leaves or "leaf Variable" not in str(e):
                raise model_failed(xb, e) from e
            self.clone_leaves = True  # an in-place op on a layer output we made a leaf: copy
            return _REDO
        except DataDietError:
            raise
        except Exception as e:  # whatever the user's model raises
            raise model_failed(xb, e) from e
        finally:
            self.active = False

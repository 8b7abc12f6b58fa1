"""Dynamic data pruning inside one training run: which examples each epoch visits, with what weight.

A static diet scores once, prunes once and trains on a fixed subset. A dynamic one decides again at
every epoch and needs no scoring run. Two methods, both built by :class:`DynamicPruning`:

* ``rs2``: repeated random sampling without replacement (Okanovic et al. 2023). Every epoch trains on
  a fresh random subset of ``round((1 - fraction) * N)`` examples, drawn without replacement across
  epochs: the epochs read consecutive slices of a stream of random permutations of the training set,
  so within each pass over the stream's permutation every example is visited exactly once before
  any is visited again.
* ``infobatch`` (Qin et al., ICLR 2024): every example keeps its latest training loss. At the start
  of a pruning epoch, the examples whose loss is below the mean of all latest losses are the
  "well-learned" ones; a random fraction ``r`` of them is skipped this epoch and the kept ones' loss
  is multiplied by ``1 / (1 - r)``, so the epoch's expected gradient is the full data's.

**Which epochs prune** (InfoBatch's published rule, ``infobatch/infobatch.py``): epoch ``e`` (from 0)
prunes only while ``e + 1 <= delta * E`` (``delta`` = :data:`INFOBATCH_DELTA` = 0.875, ``E`` the
epochs), so epochs ``0 .. floor(delta * E) - 1`` prune and the full-data tail is the last
``ceil((1 - delta) * E)`` epochs, at least one (E = 4 or 8: 1; E = 10 or 16: 2; E = 17: 3). The rule
is evaluated in exact arithmetic (``Fraction("0.875") * E``), not in floats. Epoch 0 trains on
everything here because no example has a loss yet; that is InfoBatch's epoch 0 too: its scores all
start at 3, so none is below their mean and its first "pruning" epoch skips nothing and weights
nothing. The epochs that really prune are therefore ``1 .. floor(delta * E) - 1``, the
``pruning_epochs`` (``floor(delta * E) - 1``), and pruning needs ``E >= 3`` (``floor(delta * E) >= 2``).

**The cap on r.** InfoBatch refuses ``r > 0.9`` (:data:`INFOBATCH_MAX_RATIO`); here an epoch skips
at most ``floor(0.9 * n_low_e)`` of its ``n_low_e`` below-mean examples (integer arithmetic), so
``r_e <= 0.9`` and a kept example's weight is at most 10. (InfoBatch itself, at ``r`` = 0.9, keeps
``int(0.1 * n_low)`` and weights them by exactly 10; here the weight is the exact
``n_low_e / (n_low_e - d_e)``.)

**What ``fraction`` means.** For both it is the fraction of the training compute (examples visited,
hence FLOPs) the run is asked to save against the same number of epochs on all the data, so a static
cell and a dynamic cell of a sweep at the same fraction cost the same training compute. For ``rs2``
it is exact: each epoch visits ``round((1 - fraction) * N)`` examples. InfoBatch's own parameter is
the per-epoch ratio ``r``; here pruning epoch ``e`` skips ``d_e = min(round(d), floor(0.9 * n_low_e))``
examples, ``r_e = d_e / n_low_e``, where ``d = fraction * N * E / pruning_epochs`` is the number to
skip per pruning epoch for the run to save ``fraction`` of its examples. The ``d_e`` skipped examples
are drawn without replacement, so the kept ones' weight ``n_low_e / (n_low_e - d_e)`` is exactly
``1 / (1 - r_e)``. When the cap cuts ``d_e`` below ``round(d)`` (too few examples below the mean),
the epoch is *capped* and the run saves less than ``fraction``: the trainer reports the examples it
really visited, the saving they make and the capped epochs (``TrainResult.dynamic``), the sweep's
FLOPs columns count those examples, never the target, and its report says when a cell saved less
than it asked for. A run's key carries :class:`DynamicPruning`'s ``rule`` (:data:`INFOBATCH_RULE`),
so results made under the earlier rule (tail ``floor(E / 8)`` epochs, ``r`` up to 1) are not reused.

Pure: tensors in, tensors out; all randomness from ``(seed, epoch)``, so a resumed run repeats the
uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple, Protocol

import torch

from datadiet.errors import DataDietError
from datadiet.training.seeds import seeded_generator
from datadiet.validation import check_choice, check_fraction, check_positive_int

INFOBATCH_DELTA = 0.875  # InfoBatch's delta: epoch e prunes only while e + 1 <= delta * epochs
INFOBATCH_MAX_RATIO = 0.9  # InfoBatch's cap on r, the share of the below-mean examples an epoch skips
INFOBATCH_RULE = 2  # the rule's version in a run's key (1, keys without it: tail floor(E/8), r up to 1)


class EpochPlan(NamedTuple):
    """The training-set indices one epoch visits, in order, and their loss weights (None: all 1)."""

    indices: torch.Tensor
    weights: torch.Tensor | None


class EpochSampler(Protocol):
    def plan(self, epoch: int) -> EpochPlan: ...

    def observe(self, indices: torch.Tensor, losses: torch.Tensor) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def summary(self) -> dict:
        """JSON-able counts of the run so far for its result (InfoBatch: pruning and capped epochs)."""


class RS2:
    """Repeated random sampling without replacement: epoch ``e`` visits the slice
    ``[e * size, (e + 1) * size)`` of the stream ``perm_0 ++ perm_1 ++ ...`` of random permutations
    of ``range(n)`` (``perm_c`` seeded by ``(seed, c)``). Stateless: the plan is a function of ``e``."""

    def __init__(self, n: int, fraction: float, seed: int):
        self.n = check_positive_int("n", n)
        self.size = max(1, n - math.floor(fraction * n + 0.5))
        self.seed = seed

    def _cycle(self, c: int) -> torch.Tensor:
        return torch.randperm(self.n, generator=seeded_generator(self.seed, c, 0x52532))

    def plan(self, epoch: int) -> EpochPlan:
        start, stop = epoch * self.size, (epoch + 1) * self.size
        parts, c = [], start // self.n
        while c * self.n < stop:
            lo, hi = max(start - c * self.n, 0), min(stop - c * self.n, self.n)
            parts.append(self._cycle(c)[lo:hi])
            c += 1
        return EpochPlan(torch.cat(parts), None)

    def observe(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        pass

    def summary(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class InfoBatch:
    """InfoBatch's soft pruning with the skip count set per epoch from the compute fraction to save
    (see the module docstring). ``losses`` holds every example's latest training loss (NaN before its
    first visit); ``capped`` the pruning epochs whose skip count the ratio cap cut."""

    def __init__(self, n: int, fraction: float, epochs: int, seed: int, delta: float = INFOBATCH_DELTA):
        self.n = check_positive_int("n", n)
        self.epochs = epochs
        self.seed = seed
        self.fraction = fraction
        self.stop = math.floor(_exact(delta) * epochs)  # epoch e prunes only while e + 1 <= delta * epochs
        self.pruning_epochs = max(0, self.stop - 1)  # epoch 0 has no losses yet
        if fraction > 0:
            check_infobatch_epochs(epochs, delta)
        self.skip = fraction * n * epochs / self.pruning_epochs if self.pruning_epochs else 0.0
        self.losses = torch.full((n,), float("nan"), dtype=torch.float64)
        self.capped: set[int] = set()

    def plan(self, epoch: int) -> EpochPlan:
        order = seeded_generator(self.seed, epoch, 0x1B)
        if epoch == 0 or epoch >= self.stop or self.skip == 0 or torch.isnan(self.losses).any():
            return EpochPlan(torch.randperm(self.n, generator=order), None)
        low = torch.nonzero(self.losses < self.losses.mean()).flatten()
        n_low, want = int(low.numel()), math.floor(self.skip + 0.5)
        d = min(want, max_skip(n_low))
        if d < want:
            self.capped.add(epoch)
        weights = torch.ones(self.n, dtype=torch.float32)
        keep = torch.ones(self.n, dtype=torch.bool)
        if d:
            skipped = low[torch.randperm(n_low, generator=seeded_generator(self.seed, epoch, 0x1C))[:d]]
            keep[skipped] = False
            weights[low] = n_low / (n_low - d)  # = 1 / (1 - r_e) <= 1 / (1 - INFOBATCH_MAX_RATIO)
        visit = torch.nonzero(keep).flatten()
        visit = visit[torch.randperm(visit.numel(), generator=order)]
        return EpochPlan(visit, weights[visit])

    def observe(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        self.losses[indices] = losses.detach().to("cpu", torch.float64)

    def summary(self) -> dict:
        return {"pruning_epochs": self.pruning_epochs, "capped_epochs": len(self.capped)}

    def state_dict(self) -> dict:
        return {"losses": self.losses.clone(), "capped": sorted(self.capped)}

    def load_state_dict(self, state: dict) -> None:
        self.losses = state["losses"].to(torch.float64).clone()
        self.capped = {int(e) for e in state.get("capped", ())}


def _exact(x: float) -> Fraction:
    """The decimal ``x`` as written (``0.875`` -> 7/8, ``0.9`` -> 9/10), for exact epoch and count rules."""
    return Fraction(str(x))


def max_skip(n_low: int) -> int:
    """The most of ``n_low`` below-mean examples a pruning epoch may skip: ``floor(0.9 * n_low)``, exactly."""
    return math.floor(_exact(INFOBATCH_MAX_RATIO) * n_low)


def check_infobatch_epochs(epochs: int, delta: float = INFOBATCH_DELTA) -> None:
    """Refuse a schedule with no pruning epoch besides epoch 0: ``floor(delta * epochs) >= 2`` is needed,
    i.e. ``epochs >= ceil(2 / delta)`` (3 at delta 0.875)."""
    if math.floor(_exact(delta) * epochs) < 2:
        raise DataDietError(
            f"infobatch needs epochs in which to prune (not epoch 0, which has no losses yet, nor the full-data "
            f"tail: epoch e prunes only while e + 1 <= {delta:g} x epochs): epochs must be >= "
            f"{math.ceil(2 / _exact(delta))}, got {epochs}"
        )


DYNAMIC_PRUNERS = {  # name -> sampler(n, fraction, epochs, seed)
    "rs2": lambda n, fraction, epochs, seed: RS2(n, fraction, seed),
    "infobatch": InfoBatch,
}
DYNAMIC_RULES = {"infobatch": INFOBATCH_RULE}  # rule versions in run keys; none: the first rule (rs2)


@dataclass(frozen=True)
class DynamicPruning:
    """Dynamic pruning of a training run: ``method`` (``rs2`` or ``infobatch``) saving ``fraction`` of
    the training compute in expectation (see the module docstring for how that maps to each method)."""

    method: str
    fraction: float
    # set from the method, not given: the version of its rule, so a run's key changes with the rule
    rule: int | None = field(default=None, init=False, repr=False, metadata={"omit_default": True})

    def __post_init__(self):
        check_choice("dynamic pruning method", self.method, DYNAMIC_PRUNERS)
        check_fraction("fraction", self.fraction, allow_one=False)
        object.__setattr__(self, "rule", DYNAMIC_RULES.get(self.method))

    def check_epochs(self, epochs: int) -> None:
        """Refuse, before any training, a number of epochs this pruning cannot prune in (InfoBatch: < 3)."""
        if self.method == "infobatch" and self.fraction > 0:
            check_infobatch_epochs(epochs)

    def sampler(self, n: int, epochs: int, seed: int) -> EpochSampler:
        return DYNAMIC_PRUNERS[self.method](n, self.fraction, epochs, seed)

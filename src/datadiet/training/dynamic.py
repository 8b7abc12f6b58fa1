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
  is multiplied by ``1 / (1 - r)``, so the epoch's expected gradient is the full data's. Epoch 0
  trains on everything (no losses yet), and so do the last ``anneal`` (12.5%) of the epochs.

**What ``fraction`` means.** For both it is the fraction of the training compute (examples visited,
hence FLOPs) saved in expectation against the same number of epochs on all the data, so a static
cell and a dynamic cell of a sweep at the same fraction cost the same training compute. For ``rs2``
it is exact: each epoch visits ``round((1 - fraction) * N)`` examples. InfoBatch's own parameter is
the per-epoch ratio ``r``; here ``r`` is set at each pruning epoch ``e`` to
``r_e = min(1, d / n_low_e)``, where ``n_low_e`` counts the below-mean examples and
``d = fraction * N * epochs / pruning_epochs`` is the number to skip per pruning epoch so that the
run saves ``fraction`` of its examples (``pruning_epochs`` = the epochs other than epoch 0 and the
annealing tail). The ``d`` skipped examples are drawn without replacement, so the kept ones' weight
``n_low_e / (n_low_e - d_e)`` is exactly ``1 / (1 - r_e)``. When fewer than ``d`` examples are below
the mean, ``r_e`` is capped at 1 and the run saves less than ``fraction``: the trainer reports the
examples it really visited, and the sweep's FLOPs columns count those, never the target.

Pure: tensors in, tensors out; all randomness from ``(seed, epoch)``, so a resumed run repeats the
uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch

from datadiet.errors import DataDietError
from datadiet.training.seeds import seeded_generator
from datadiet.validation import check_choice, check_fraction, check_positive_int

INFOBATCH_ANNEAL = 0.125  # the final fraction of epochs InfoBatch trains on all the data


class EpochPlan(NamedTuple):
    """The training-set indices one epoch visits, in order, and their loss weights (None: all 1)."""

    indices: torch.Tensor
    weights: torch.Tensor | None


class EpochSampler(Protocol):
    def plan(self, epoch: int) -> EpochPlan: ...

    def observe(self, indices: torch.Tensor, losses: torch.Tensor) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


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

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class InfoBatch:
    """InfoBatch's soft pruning with the skip count set per epoch from the compute fraction to save
    (see the module docstring). ``losses`` holds every example's latest training loss (NaN before its
    first visit)."""

    def __init__(self, n: int, fraction: float, epochs: int, seed: int, anneal: float = INFOBATCH_ANNEAL):
        self.n = check_positive_int("n", n)
        self.epochs = epochs
        self.seed = seed
        self.fraction = fraction
        self.stop = math.ceil(epochs * (1 - anneal))  # epochs >= stop train on all the data
        self.pruning_epochs = max(0, self.stop - 1)  # epoch 0 has no losses yet
        if fraction > 0 and self.pruning_epochs == 0:
            raise DataDietError(
                f"infobatch needs epochs in which to prune (not epoch 0, which has no losses yet, nor the last "
                f"{anneal:.1%} of the epochs): epochs must be >= 2, got {epochs}"
            )
        self.skip = fraction * n * epochs / self.pruning_epochs if self.pruning_epochs else 0.0
        self.losses = torch.full((n,), float("nan"), dtype=torch.float64)

    def plan(self, epoch: int) -> EpochPlan:
        order = seeded_generator(self.seed, epoch, 0x1B)
        if epoch == 0 or epoch >= self.stop or self.skip == 0 or torch.isnan(self.losses).any():
            return EpochPlan(torch.randperm(self.n, generator=order), None)
        low = torch.nonzero(self.losses < self.losses.mean()).flatten()
        d = min(int(low.numel()), math.floor(self.skip + 0.5))
        weights = torch.ones(self.n, dtype=torch.float32)
        keep = torch.ones(self.n, dtype=torch.bool)
        if d:
            skipped = low[torch.randperm(low.numel(), generator=seeded_generator(self.seed, epoch, 0x1C))[:d]]
            keep[skipped] = False
            if d < low.numel():
                weights[low] = low.numel() / (low.numel() - d)  # = 1 / (1 - r_e)
        visit = torch.nonzero(keep).flatten()
        visit = visit[torch.randperm(visit.numel(), generator=order)]
        return EpochPlan(visit, weights[visit])

    def observe(self, indices: torch.Tensor, losses: torch.Tensor) -> None:
        self.losses[indices] = losses.detach().to("cpu", torch.float64)

    def state_dict(self) -> dict:
        return {"losses": self.losses.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.losses = state["losses"].to(torch.float64).clone()


DYNAMIC_PRUNERS = {  # name -> sampler(n, fraction, epochs, seed)
    "rs2": lambda n, fraction, epochs, seed: RS2(n, fraction, seed),
    "infobatch": InfoBatch,
}


@dataclass(frozen=True)
class DynamicPruning:
    """Dynamic pruning of a training run: ``method`` (``rs2`` or ``infobatch``) saving ``fraction`` of
    the training compute in expectation (see the module docstring for how that maps to each method)."""

    method: str
    fraction: float

    def __post_init__(self):
        check_choice("dynamic pruning method", self.method, DYNAMIC_PRUNERS)
        check_fraction("fraction", self.fraction, allow_one=False)

    def sampler(self, n: int, epochs: int, seed: int) -> EpochSampler:
        return DYNAMIC_PRUNERS[self.method](n, self.fraction, epochs, seed)

"""Dynamic pruning in your own training loop: a ``torch.utils.data.Sampler`` and the loss rescaling.

The same RS2 and InfoBatch as the built-in trainer (:mod:`datadiet.training.dynamic`), driven by
your ``DataLoader``::

    sampler = DynamicSampler(len(train_set), DynamicPruning("infobatch", 0.3), epochs=epochs, seed=0)
    loader = DataLoader(Indexed(train_set), batch_size=128, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                          # optional: plans the epoch from the losses seen so far
        for indices, x, y in loader:
            losses = F.cross_entropy(model(x), y, reduction="none")
            loss = sampler.rescale(indices, losses)       # InfoBatch's weighted mean; records the losses
            opt.zero_grad(); loss.backward(); opt.step()

Like InfoBatch's own sampler, each pass over the loader is the next epoch: without ``set_epoch``
the first pass plans epoch 0, the next epoch 1, and so on, so a loop that never calls it still
prunes. ``set_epoch(e)`` (as for a ``DistributedSampler``) plans epoch ``e`` now (in order, each
at most once) so that ``len(sampler)`` is that epoch's before its pass; a pass beyond ``epochs``
is refused. ``sampler.examples_seen`` counts the examples the epochs visited (the compute really
spent).
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler

from datadiet.errors import DataDietError
from datadiet.training.dynamic import DynamicPruning
from datadiet.validation import check_positive_int


class DynamicSampler(Sampler[int]):
    """Yields the indices each epoch visits under ``pruning`` (in order); :meth:`rescale` weights the
    per-example losses and tells the pruner what they were."""

    def __init__(self, n: int, pruning: DynamicPruning, *, epochs: int, seed: int = 0):
        if not isinstance(pruning, DynamicPruning):
            raise DataDietError(f"pruning must be a DynamicPruning, got {type(pruning).__name__}")
        self.n = check_positive_int("n", n)
        self.epochs = check_positive_int("epochs", epochs)
        self._pruner = pruning.sampler(self.n, self.epochs, check_positive_int("seed", seed, allow_zero=True))
        self.epoch = -1
        self._fresh = False  # the planned epoch has not been iterated yet
        self._indices = torch.empty(0, dtype=torch.long)
        self._weights = torch.ones(self.n)
        self.examples_seen = 0

    def set_epoch(self, epoch: int) -> None:
        """Plan epoch ``epoch`` (0, 1, ... in order: InfoBatch plans from the losses of the epochs before).
        Optional: iterating the sampler plans the next epoch unless this one has not been iterated."""
        epoch = check_positive_int("epoch", epoch, allow_zero=True)
        if epoch != self.epoch + 1:
            raise DataDietError(
                f"set_epoch must go through the epochs in order: expected {self.epoch + 1}, got {epoch}"
            )
        if epoch >= self.epochs:
            raise DataDietError(f"epoch must be < the {self.epochs} epochs the sampler was made for, got {epoch}")
        plan = self._pruner.plan(epoch)
        self.epoch, self._indices, self._fresh = epoch, plan.indices, True
        self._weights = torch.ones(self.n)
        if plan.weights is not None:
            self._weights[plan.indices] = plan.weights
        self.examples_seen += int(plan.indices.numel())

    def __iter__(self):
        if not self._fresh:  # no set_epoch since the last pass: this pass is the next epoch
            if self.epoch + 1 >= self.epochs:
                raise DataDietError(
                    f"the sampler was made for {self.epochs} epochs and all were iterated; make a new "
                    f"DynamicSampler (or pass a larger epochs) to train longer"
                )
            self.set_epoch(self.epoch + 1)
        self._fresh = False
        return iter(self._indices.tolist())

    def __len__(self) -> int:
        return int(self._indices.numel()) if self.epoch >= 0 else self.n

    def rescale(self, indices, losses: torch.Tensor) -> torch.Tensor:
        """The batch loss to back-propagate: the mean of ``losses`` (per example, ``reduction="none"``)
        weighted by the epoch's weights (InfoBatch: 1/(1-r) for kept well-learned examples; RS2: 1).
        Records the losses for the next epoch's plan."""
        idx = torch.as_tensor(indices).long().cpu()
        if losses.ndim != 1 or losses.shape[0] != idx.shape[0]:
            raise DataDietError(
                f"losses must be per example, shape ({idx.shape[0]},) (use reduction='none'), got {tuple(losses.shape)}"
            )
        self._pruner.observe(idx, losses.detach().cpu())
        return (losses * self._weights[idx].to(losses.device, losses.dtype)).mean()


class Indexed(torch.utils.data.Dataset):
    """A map-style dataset of ``(x, y)`` that returns ``(index, x, y)``, so a loop knows which
    examples each batch holds (for :class:`DynamicSampler` and :class:`~datadiet.scores.tracker.Tracker`)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i]
        return i, x, y

"""Which batches a training run visits, at what learning rate: the static schedule (a fixed index set,
one seeded permutation per epoch) and the dynamic one (an epoch sampler plans each epoch).

The training loop (:func:`datadiet.training.trainer.train`) asks a schedule for its :class:`Batch`
es from the run's current step, takes one optimiser step on each, hands the step's per-example
losses back through :meth:`observe`, and saves the resume state (with :meth:`resume_state`'s extra
keys) after every batch marked ``saves_state``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple, Protocol

import numpy as np
import torch

from datadiet.errors import DataDietError
from datadiet.training.config import TrainConfig, lr_at
from datadiet.training.dynamic import DynamicPruning
from datadiet.training.seeds import epoch_permutation
from datadiet.validation import check_indices, check_positive_int, check_step_in_schedule


def make_schedule(
    n_all: int,
    config: TrainConfig,
    *,
    subset: Iterable[int] | np.ndarray | None,
    stop_at: int | None,
    start_step: int,
    dynamic: DynamicPruning | None,
    checkpoint_steps: Iterable[int],
) -> Schedule:
    """The schedule of a run over a training set of ``n_all`` examples (see :func:`~datadiet.training.train`)."""
    idx = torch.arange(n_all) if subset is None else torch.from_numpy(check_indices("subset", subset, n_all))
    if stop_at is not None:
        check_positive_int("stop_at", stop_at, allow_zero=True)
    if dynamic is not None:
        _refuse_static_options(dynamic, config, subset, stop_at, start_step, checkpoint_steps)
    if idx.numel() < 1:
        raise DataDietError("subset must hold at least one training example, got 0")
    if dynamic is not None:
        return DynamicSchedule(n_all, config, dynamic)
    return StaticSchedule(idx, config, start_step=start_step, stop_at=stop_at)


class Batch(NamedTuple):
    """One optimiser step: training-set ``indices``, their ``epoch``, the step's ``lr``, loss
    ``weights`` (None: the plain mean loss), the ``progress`` ``(done, of)`` once it is taken, and
    whether the resume state is saved after it."""

    indices: torch.Tensor
    epoch: int
    lr: float
    weights: torch.Tensor | None
    progress: tuple[int, int]
    saves_state: bool


class Schedule(Protocol):
    """The batches of a run and what the run's loop tells it (see the module docstring)."""

    start_step: int  # the run's first step without a resume state

    @property
    def train_size(self) -> int: ...

    def checkpoint_steps(self, steps: Iterable[int]) -> list[int]:
        """The steps of ``steps`` at which this schedule's run can keep the model."""

    def batches(self, step: int) -> Iterator[Batch]:
        """The batches from optimiser step ``step`` to the run's end."""

    def observe(self, batch: Batch, losses: torch.Tensor | None) -> None:
        """Called after the optimiser step on ``batch`` with its per-example losses (None without weights)."""

    def resume_state(self) -> dict:
        """Keys to add to the resume state (restored by :meth:`load_resume_state`)."""

    def load_resume_state(self, state: dict) -> None: ...

    def epochs(self, step: int) -> float: ...

    def examples_seen(self, step: int) -> int:
        """The examples the run visited from ``start_step`` up to ``step``."""

    def pruning_summary(self) -> dict | None:
        """What dynamic pruning saved (None for a static schedule)."""


class StaticSchedule:
    """The index set ``idx`` in the permutation of ``(config.order_seed, epoch)`` each epoch, the LR at
    each step of the whole run's schedule; from ``start_step`` (rewinding) and up to ``stop_at``."""

    def __init__(self, idx: torch.Tensor, config: TrainConfig, *, start_step: int, stop_at: int | None):
        self.idx, self.config, self.n = idx, config, int(idx.numel())
        self.steps_per_epoch = config.steps_per_epoch(self.n)
        self.total = config.total_steps(self.n)
        self.start_step = check_positive_int("start_step", start_step, allow_zero=True)
        check_step_in_schedule("start_step", self.start_step, self.total)
        self.limit = self.total if stop_at is None else min(self.total, int(stop_at))

    @property
    def train_size(self) -> int:
        return self.n

    def checkpoint_steps(self, steps: Iterable[int]) -> list[int]:
        return sorted({int(s) for s in steps if 0 <= int(s) <= self.total})

    def batches(self, step: int) -> Iterator[Batch]:
        spe, limit = self.steps_per_epoch, self.limit
        while step < limit:
            epoch, pos = divmod(step, spe)
            batches = torch.tensor_split(self.idx[epoch_permutation(self.n, self.config.order_seed, epoch)], spe)
            for b in batches[pos:]:
                if step >= limit:
                    break
                done = step + 1
                yield Batch(
                    b,
                    epoch,
                    lr_at(self.config, step, self.total),
                    None,
                    (done, limit),
                    done % spe == 0 or done == limit,
                )
                step = done

    def observe(self, batch: Batch, losses: torch.Tensor | None) -> None:
        pass

    def resume_state(self) -> dict:
        return {}

    def load_resume_state(self, state: dict) -> None:
        pass

    def epochs(self, step: int) -> float:
        return step / self.steps_per_epoch

    def pruning_summary(self) -> dict | None:
        return None

    def examples_seen(self, step: int) -> int:
        return _examples_seen(self.n, self.steps_per_epoch, step) - _examples_seen(
            self.n, self.steps_per_epoch, self.start_step
        )


class DynamicSchedule:
    """Every epoch of ``config.epochs`` visits what the sampler of ``dynamic`` plans, with its loss
    weights, in ``steps_per_epoch(planned)`` near-equal consecutive batches; the LR follows the
    full-data schedule by epoch progress. The sampler sees every visited example's loss."""

    def __init__(self, n_all: int, config: TrainConfig, dynamic: DynamicPruning):
        self.config, self.n = config, n_all
        self.total = config.total_steps(n_all)
        self.full_steps = config.steps_per_epoch(n_all)  # the LR schedule is the full data's, by epoch progress
        self.sampler = dynamic.sampler(n_all, config.epochs, config.order_seed)
        self.method, self.fraction = dynamic.method, dynamic.fraction
        self.start_step, self.epoch, self.seen = 0, 0, 0

    @property
    def train_size(self) -> int:
        return self.n

    def checkpoint_steps(self, steps: Iterable[int]) -> list[int]:
        return []

    def batches(self, step: int) -> Iterator[Batch]:
        cfg, full = self.config, self.full_steps
        while self.epoch < cfg.epochs:
            epoch = self.epoch
            visit, weights = self.sampler.plan(epoch)
            self._epoch_size = int(visit.numel())
            order = torch.tensor_split(torch.arange(visit.numel()), cfg.steps_per_epoch(visit.numel()))
            for pos, j in enumerate(order):
                lr = lr_at(cfg, (epoch + pos / len(order)) * full, cfg.epochs * full)
                w = torch.ones(j.numel()) if weights is None else weights[j]
                done = min(self.total, round((epoch + (pos + 1) / len(order)) * full))
                yield Batch(visit[j], epoch, lr, w, (done, self.total), pos == len(order) - 1)

    def observe(self, batch: Batch, losses: torch.Tensor | None) -> None:
        self.sampler.observe(batch.indices, losses.cpu())
        if batch.saves_state:  # the epoch's last batch: the epoch is done
            self.epoch, self.seen = self.epoch + 1, self.seen + self._epoch_size

    def resume_state(self) -> dict:
        return {"dynamic": {"epoch": self.epoch, "examples_seen": self.seen, "sampler": self.sampler.state_dict()}}

    def load_resume_state(self, state: dict) -> None:
        self.sampler.load_state_dict(state["dynamic"]["sampler"])
        self.epoch, self.seen = state["dynamic"]["epoch"], state["dynamic"]["examples_seen"]

    def epochs(self, step: int) -> int:
        return self.config.epochs

    def examples_seen(self, step: int) -> int:
        return self.seen

    def pruning_summary(self) -> dict | None:
        """``method``, the ``fraction`` asked for, the ``saved_fraction`` the visited examples really
        saved (1 - visited / (epochs x N)) and the sampler's counts (InfoBatch: ``pruning_epochs``,
        ``capped_epochs``)."""
        saved = 1 - self.seen / (self.config.epochs * self.n)
        return {"method": self.method, "fraction": self.fraction, "saved_fraction": saved, **self.sampler.summary()}


def _refuse_static_options(dynamic, config: TrainConfig, subset, stop_at, start_step, checkpoint_steps) -> None:
    given = {
        "subset": subset is not None,
        "steps": config.steps is not None,
        "stop_at": stop_at is not None,
        "start_step": bool(start_step),
        "checkpoint_steps": bool(list(checkpoint_steps)),
    }
    clash = [k for k, v in given.items() if v]
    if clash:
        raise DataDietError(
            f"dynamic pruning ({dynamic.method}) trains the whole training set's epochs; it does not take "
            f"{', '.join(clash)}"
        )


def _examples_seen(n: int, steps_per_epoch: int, steps: int) -> int:
    full, rem = divmod(steps, steps_per_epoch)
    sizes = [len(c) for c in torch.tensor_split(torch.arange(n), steps_per_epoch)]
    return full * n + sum(sizes[:rem])

"""The trainer: batches from index permutations, taken from the in-memory tensors (no DataLoader, the
fast default) or, for a lazy source (:mod:`datadiet.training.feed`), read through a DataLoader in
the same batches, so both give the same numbers.

Design points that later stages rely on:

* any index ``subset`` of the training set can be trained on; the permutation of epoch ``e`` is a
  pure function of ``(order_seed, e)`` and the augmentation of step ``s`` of ``(aug_seed, s)``, so a
  run resumed from a saved step reproduces the uninterrupted run exactly;
* ``hooks`` see every training batch's example indices, logits and targets (forgetting, AUM);
* ``checkpoint_steps`` saves the model at chosen steps (scoring a few epochs in, rewinding for
  lottery tickets); ``init_state`` and ``masks`` start from given weights and keep pruned weights at
  zero (iterative magnitude pruning);
* with a ``checkpointer`` the run hands a resume state to it at every epoch end (and at its stopping
  step) and resumes from the one it gives back; without one everything stays in memory. The trainer
  itself does no file I/O: :class:`datadiet.engine.weights.RunDirCheckpointer` keeps these
  in a run directory.

:func:`train` is the loop; each feature is an object it calls at fixed points:

* a feed (:mod:`datadiet.training.feed`) gives each batch's inputs and labels: indexed in memory, or
  read from a lazy source by a DataLoader with ``num_workers`` worker processes;
* a schedule (:mod:`datadiet.training.schedule`: static epochs of a subset, or dynamic pruning)
  gives the batches with their epoch, LR and loss weights, sees each step's losses and adds its
  keys to the resume state;
* :class:`~datadiet.training.step.OptimizerStep` takes one step (augmentation, loss, masks held by
  a :class:`~datadiet.training.masks.MaskEnforcer`, batch hooks);
* :class:`~datadiet.training.state.TrainState` is the model, optimiser, hooks, step and seconds;
* :class:`~datadiet.training.state.Persistence` saves checkpoints and resume states to the checkpointer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from datadiet.data.dataset import Dataset
from datadiet.defaults import DEFAULT_NUM_WORKERS
from datadiet.training.config import TrainConfig
from datadiet.training.dynamic import DynamicPruning
from datadiet.training.evaluation import accuracy_of, evaluate, predict_logits
from datadiet.training.feed import Source, augment_of, check_data, is_lazy, make_feed, predict_source
from datadiet.training.masks import MaskEnforcer, apply_masks
from datadiet.training.schedule import Schedule, make_schedule
from datadiet.training.seeds import derived_seed, epoch_permutation
from datadiet.training.state import Checkpointer, Persistence, TrainState
from datadiet.training.step import BatchHook, OptimizerStep, initial_model, sgd

__all__ = [  # derived_seed, epoch_permutation, the evaluation functions and apply_masks: their old home
    "BatchHook",
    "Checkpointer",
    "TrainResult",
    "accuracy_of",
    "apply_masks",
    "derived_seed",
    "epoch_permutation",
    "evaluate",
    "predict_logits",
    "train",
]


@dataclass
class TrainResult:
    model: nn.Module
    test_accuracy: float
    per_class_accuracy: list[float]
    steps: int
    epochs: float
    train_size: int
    examples_seen: int
    seconds: float
    checkpoints: dict[int, dict] = field(default_factory=dict)
    test_predictions: np.ndarray | None = None  # the predicted label of every test example
    dynamic: dict | None = None  # dynamic pruning: what it asked for and really saved (schedule.pruning_summary)
    val_accuracy: float | None = None  # on the dataset's validation part (None without one)

    def summary(self, class_names: Sequence[str] | None = None) -> dict:
        out = {
            "test_accuracy": self.test_accuracy,
            "per_class_accuracy": self.per_class_accuracy,
            "steps": self.steps,
            "epochs": self.epochs,
            "train_size": self.train_size,
            "examples_seen": self.examples_seen,
            "seconds": self.seconds,
        }
        if self.val_accuracy is not None:  # absent without a validation part: summaries as they were
            out["val_accuracy"] = self.val_accuracy
        if class_names is not None:
            out["class_names"] = list(class_names)
        if self.dynamic is not None:
            out["dynamic"] = dict(self.dynamic)
        return out


def train(
    dataset: Dataset | Source,
    config: TrainConfig,
    *,
    subset: Iterable[int] | np.ndarray | None = None,
    hooks: Sequence[BatchHook] = (),
    checkpoint_steps: Iterable[int] = (),
    checkpointer: Checkpointer | None = None,
    init_state: dict | None = None,
    masks: dict[str, torch.Tensor] | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop_at: int | None = None,
    device: str | torch.device = "cpu",
    start_step: int = 0,
    dynamic: DynamicPruning | None = None,
    num_workers: int = DEFAULT_NUM_WORKERS,
) -> TrainResult:
    """Train ``config.model`` on ``dataset`` (or the index ``subset`` of its training set).

    ``dataset`` is an in-memory :class:`~datadiet.data.dataset.Dataset` or a lazy source (e.g.
    :class:`~datadiet.data.sources.NpySource`; see :mod:`datadiet.training.feed`), whose training
    batches and test set are read batch by batch through a DataLoader with ``num_workers`` worker
    processes (unused in memory): the same batches as in memory, so the same weights and accuracies.

    ``checkpoint_steps`` may include 0 (the initialisation). ``stop_at`` ends the run once the
    optimiser step count reaches that absolute step of the schedule (the resume state is saved): a
    run resumed from its saved state stops at the same step as an uninterrupted one, so a model
    trained "to epoch t" is never trained past it. The LR schedule is always that of the whole run.
    ``device`` is where the model trains (the data stays on the CPU; each batch is moved); hooks and
    checkpoints see CPU tensors, and the returned model is on ``device``.

    ``start_step`` starts a run part-way through its schedule (rewinding, lottery tickets): from
    ``init_state``, with a fresh optimiser, at the learning rate and in the data order of that step,
    and it ends at the schedule's end as usual. With ``masks`` (``{parameter name: 0/1 tensor}``) the
    masked weights are zero from the start and stay exactly zero: their gradients are zeroed before
    every step (so neither momentum nor weight decay moves them) and the mask is applied again after.

    ``dynamic`` (:class:`datadiet.training.dynamic.DynamicPruning`) prunes inside the run: each epoch
    visits the examples its sampler plans, with their loss weights, and the sampler sees every
    visited example's loss. The LR follows the full-data schedule by epoch progress (``config.epochs``
    epochs), ``examples_seen`` counts the examples really visited, and the result's ``dynamic`` says
    the fraction saved and, for InfoBatch, the pruning epochs its cap on r cut. It trains the whole
    training set's schedule, so ``subset``, ``steps``, ``stop_at``, ``start_step`` and checkpoints do
    not apply.
    """
    check_data(dataset)
    feed = make_feed(dataset, num_workers)
    schedule = make_schedule(
        dataset.num_train,
        config,
        subset=subset,
        stop_at=stop_at,
        start_step=start_step,
        dynamic=dynamic,
        checkpoint_steps=checkpoint_steps,
    )
    device = torch.device(device)
    model = initial_model(dataset, config, init_state, device)
    held = MaskEnforcer(model, masks, device)
    state = TrainState(model, sgd(model, config), hooks, step=schedule.start_step)
    persistence = Persistence(checkpointer, schedule.checkpoint_steps(checkpoint_steps))
    if (saved := persistence.load_state()) is not None:
        state.load_resume_state(saved)
        schedule.load_resume_state(saved)
    optimizer_step = OptimizerStep(augment_of(dataset), config, model, state.optimizer, held, hooks, device)
    state.start_clock()
    model.train()
    persistence.checkpoint(state.step, model)
    with closing(feed.batches(schedule.batches(state.step))) as batches:
        for batch, x, y in batches:
            losses = optimizer_step(state.step, batch, x, y)
            schedule.observe(batch, losses)
            state.step += 1
            persistence.checkpoint(state.step, model)
            if progress is not None:
                progress(*batch.progress)
            if batch.saves_state:
                persistence.save_state(state, schedule.resume_state())
    state.stop_clock()
    return _result(dataset, state, schedule, persistence, num_workers)


def _result(dataset, state: TrainState, schedule: Schedule, persistence: Persistence, num_workers: int) -> TrainResult:
    """The trained model's test accuracy and predictions (and validation accuracy when the dataset has a
    validation part), with the run's counts and checkpoints. A lazy source's test set is read batch
    by batch."""
    if is_lazy(dataset):
        logits, y_test = predict_source(state.model, dataset, "test", num_workers=num_workers)
        test_pred = logits.argmax(1)
    else:
        test_pred, y_test = predict_logits(state.model, dataset.x_test).argmax(1), dataset.y_test
    acc, per_class = accuracy_of(test_pred, y_test, dataset.num_classes)
    val_acc = None
    if getattr(dataset, "x_val", None) is not None:
        val_acc, _ = evaluate(state.model, dataset.x_val, dataset.y_val, dataset.num_classes)
    return TrainResult(
        model=state.model,
        test_accuracy=acc,
        per_class_accuracy=per_class,
        steps=state.step,
        epochs=schedule.epochs(state.step),
        train_size=schedule.train_size,
        examples_seen=schedule.examples_seen(state.step),
        seconds=state.seconds,
        checkpoints=persistence.all_checkpoints(),
        test_predictions=test_pred.numpy().astype(np.int64),
        dynamic=schedule.pruning_summary(),
        val_accuracy=val_acc,
    )

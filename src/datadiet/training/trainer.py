"""An in-memory trainer: batches from index permutations, no DataLoader.

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
  itself does no file I/O: :class:`datadiet.experiments.training.RunDirCheckpointer` keeps these
  in a run directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from datadiet.data.dataset import Dataset
from datadiet.models import build_model
from datadiet.training.augment import augment_batch
from datadiet.training.config import TrainConfig, lr_at
from datadiet.training.dynamic import DynamicPruning
from datadiet.validation import check_indices, check_positive_int


class BatchHook(Protocol):
    """Sees every training batch. ``logits`` are detached, from the model in train mode."""

    def on_batch(
        self, step: int, epoch: int, indices: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor
    ) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Checkpointer(Protocol):
    """Where a training run keeps what must outlive the process (see :func:`train`)."""

    def load_state(self) -> dict | None:
        """The last saved resume state, or None to start from step 0."""

    def save_state(self, state: dict) -> None:
        """Keep a resume state (step, seconds, model, optimizer, hooks); called at every epoch end."""

    def save_checkpoint(self, step: int, state_dict: dict) -> None:
        """Keep the model's state at ``step`` (one of ``checkpoint_steps``)."""

    def load_checkpoint(self, step: int) -> dict | None:
        """A checkpoint saved before an interruption, or None."""


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
        if class_names is not None:
            out["class_names"] = list(class_names)
        return out


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from a tuple of integers (never from time)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint64)[0] >> 1)


def epoch_permutation(n: int, order_seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(derived_seed(order_seed, epoch, 0x0D))
    return torch.randperm(n, generator=g)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Logits in eval mode (on the CPU, computed on the model's device); the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was_training)


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, *, batch_size: int = 1024
) -> tuple[float, list[float]]:
    """Overall and per-class accuracy (NaN for a class with no examples)."""
    return accuracy_of(predict_logits(model, x, batch_size=batch_size).argmax(1), y, num_classes)


def accuracy_of(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[float, list[float]]:
    """Overall and per-class accuracy of predicted labels ``pred`` (NaN for a class with no examples)."""
    correct = (pred == y).double()
    counts = torch.bincount(y, minlength=num_classes).double()
    hits = torch.bincount(y, weights=correct, minlength=num_classes)
    per_class = torch.where(counts > 0, hits / counts.clamp(min=1), torch.full_like(counts, float("nan")))
    return float(correct.mean()), [float(v) for v in per_class]


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor] | None) -> None:
    """Zero the masked weights (``masks``: parameter name -> 0/1 tensor of the parameter's shape)."""
    if not masks:
        return
    params = dict(model.named_parameters())
    for name, m in masks.items():
        if name not in params or tuple(m.shape) != tuple(params[name].shape):
            from datadiet.errors import DataDietError

            got = "no such parameter" if name not in params else f"shape {tuple(m.shape)}"
            raise DataDietError(f"mask {name!r} does not fit the model ({got})")
    with torch.no_grad():
        for name, m in masks.items():
            params[name].mul_(m)


def train(
    dataset: Dataset,
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
) -> TrainResult:
    """Train ``config.model`` on ``dataset`` (or the index ``subset`` of its training set).

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
    epochs), and ``examples_seen`` counts the examples really visited. It trains the whole training
    set's schedule, so ``subset``, ``steps``, ``stop_at``, ``start_step`` and checkpoints do not apply.
    """
    n_all = dataset.num_train
    idx = torch.arange(n_all) if subset is None else torch.from_numpy(check_indices("subset", subset, n_all))
    if stop_at is not None:
        check_positive_int("stop_at", stop_at, allow_zero=True)
    if dynamic is not None:
        _check_dynamic(dynamic, config, subset=subset, stop_at=stop_at, start_step=start_step, ckpt=checkpoint_steps)
    n = int(idx.numel())
    if n < 1:
        from datadiet.errors import DataDietError

        raise DataDietError("subset must hold at least one training example, got 0")
    steps_per_epoch = config.steps_per_epoch(n)
    total = config.total_steps(n)
    ckpt = sorted({int(s) for s in checkpoint_steps if 0 <= int(s) <= total})

    model = build_model(
        config.model,
        dataset.input_shape,
        dataset.num_classes,
        width=config.width,
        seed=config.init_seed,
        source_hash=config.model_hash or None,
    )
    if init_state is not None:
        model.load_state_dict(init_state)
    device = torch.device(device)
    model.to(device)
    if masks:
        masks = {k: v.to(device) for k, v in masks.items()}
    apply_masks(model, masks)
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
    )
    checkpoints: dict[int, dict] = {}
    step, seconds = check_positive_int("start_step", start_step, allow_zero=True), 0.0
    if step > total:
        from datadiet.errors import DataDietError

        raise DataDietError(f"start_step must be <= the schedule's {total} steps, got {step}")
    mask_of = [(p, masks[name]) for name, p in model.named_parameters() if name in masks] if masks else []
    state = checkpointer.load_state() if checkpointer is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        for h, hs in zip(hooks, state["hooks"]):
            h.load_state_dict(hs)
        step, seconds = state["step"], state["seconds"]

    def save_state(**extra):
        if checkpointer is not None:
            checkpointer.save_state(
                {
                    "step": step,
                    "seconds": seconds + time.perf_counter() - t0,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "hooks": [h.state_dict() for h in hooks],
                    **extra,
                },
            )

    def save_checkpoint():
        sd = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if checkpointer is not None:
            checkpointer.save_checkpoint(step, sd)
        checkpoints[step] = sd

    t0 = time.perf_counter()
    x_all, y_all = dataset.x_train, dataset.y_train
    use_aug = dataset.augment.default if config.augment is None else config.augment
    aug = dataset.augment if use_aug else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    model.train()
    if step in ckpt and step not in checkpoints:
        save_checkpoint()
    limit = total if stop_at is None else min(total, int(stop_at))
    per_example = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="none")

    def train_step(b: torch.Tensor, epoch: int, lr: float, weights: torch.Tensor | None = None):
        """One optimiser step on the batch of training indices ``b``; with ``weights`` the loss is
        the weighted mean of the per-example losses, which are returned (None otherwise)."""
        for g in opt.param_groups:
            g["lr"] = lr
        x = x_all[b]
        if aug is not None and aug.enabled:
            x = augment_batch(x, aug, torch.Generator().manual_seed(derived_seed(config.aug_seed, step, 0xA6)))
        y = y_all[b]
        if device.type != "cpu":
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = model(x)
        losses = None
        if weights is None:
            loss = loss_fn(logits, y)
        else:
            losses = per_example(logits, y)
            loss = (losses * weights.to(losses.device)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p, m in mask_of:  # pruned weights get no update, not even from momentum or weight decay
            if p.grad is not None:
                p.grad.mul_(m)
        opt.step()
        if masks:
            apply_masks(model, masks)
        if hooks:
            detached, yc = logits.detach().cpu(), (y if device.type == "cpu" else y_all[b])
            for h in hooks:
                h.on_batch(step, epoch, b, detached, yc)
        return None if losses is None else losses.detach()

    if dynamic is not None:
        sampler = dynamic.sampler(n_all, config.epochs, config.order_seed)
        epoch, seen = 0, 0
        if state is not None:
            sampler.load_state_dict(state["dynamic"]["sampler"])
            epoch, seen = state["dynamic"]["epoch"], state["dynamic"]["examples_seen"]
        full_steps = config.steps_per_epoch(n_all)  # the LR schedule is the full data's, by epoch progress
        while epoch < config.epochs:
            visit, weights = sampler.plan(epoch)
            order = torch.tensor_split(torch.arange(visit.numel()), config.steps_per_epoch(visit.numel()))
            for pos, j in enumerate(order):
                lr = lr_at(config, (epoch + pos / len(order)) * full_steps, config.epochs * full_steps)
                w = torch.ones(j.numel()) if weights is None else weights[j]
                losses = train_step(visit[j], epoch, lr, w)
                sampler.observe(visit[j], losses.cpu())
                step += 1
                if progress is not None:
                    progress(min(total, round((epoch + (pos + 1) / len(order)) * full_steps)), total)
            epoch, seen = epoch + 1, seen + int(visit.numel())
            dyn_state = {"epoch": epoch, "examples_seen": seen, "sampler": sampler.state_dict()}
            save_state(dynamic=dyn_state)
    while dynamic is None and step < limit:
        epoch, pos = divmod(step, steps_per_epoch)
        batches = torch.tensor_split(idx[epoch_permutation(n, config.order_seed, epoch)], steps_per_epoch)
        for b in batches[pos:]:
            if step >= limit:
                break
            train_step(b, epoch, lr_at(config, step, total))
            step += 1
            if step in ckpt:
                save_checkpoint()
            if progress is not None:
                progress(step, limit)
            if step % steps_per_epoch == 0 or step == limit:
                save_state()
    seconds += time.perf_counter() - t0
    test_pred = predict_logits(model, dataset.x_test).argmax(1)
    acc, per_class = accuracy_of(test_pred, dataset.y_test, dataset.num_classes)
    if checkpointer is not None:  # checkpoints saved before an interruption
        for s in ckpt:
            if s not in checkpoints and (sd := checkpointer.load_checkpoint(s)) is not None:
                checkpoints[s] = sd
    return TrainResult(
        model=model,
        test_accuracy=acc,
        per_class_accuracy=per_class,
        steps=step,
        epochs=config.epochs if dynamic is not None else step / steps_per_epoch,
        train_size=n,
        examples_seen=seen
        if dynamic is not None
        else _examples_seen(n, steps_per_epoch, step) - _examples_seen(n, steps_per_epoch, start_step),
        seconds=seconds,
        checkpoints=checkpoints,
        test_predictions=test_pred.numpy().astype(np.int64),
    )


def _check_dynamic(dynamic, config: TrainConfig, *, subset, stop_at, start_step, ckpt) -> None:
    from datadiet.errors import DataDietError

    given = {
        "subset": subset is not None,
        "steps": config.steps is not None,
        "stop_at": stop_at is not None,
        "start_step": bool(start_step),
        "checkpoint_steps": bool(list(ckpt)),
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

"""One optimiser step of the trainer, and the model and optimiser it steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import nn

from datadiet.data.dataset import Augment, Dataset
from datadiet.models import build_model
from datadiet.training.augment import augment_batch
from datadiet.training.config import TrainConfig
from datadiet.training.masks import MaskEnforcer
from datadiet.training.schedule import Batch
from datadiet.training.seeds import seeded_generator


class BatchHook(Protocol):
    """Sees every training batch. ``logits`` are detached, from the model in train mode."""

    def on_batch(
        self, step: int, epoch: int, indices: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor
    ) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def initial_model(dataset: Dataset, config: TrainConfig, init_state: dict | None, device: torch.device) -> nn.Module:
    """``config.model`` for ``dataset`` (a Dataset or a lazy source: its ``input_shape`` and
    ``num_classes``) from ``config.init_seed`` (or the weights ``init_state``), on ``device``."""
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
    return model.to(device)


def sgd(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with ``config``'s momentum; weight decay on the weights (ndim > 1), none on biases and norms."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    return torch.optim.SGD(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
    )


class OptimizerStep:
    """One optimiser step on a :class:`Batch` of training indices and its inputs and labels (from a
    feed, :mod:`datadiet.training.feed`): the inputs are augmented with the generator of
    ``(config.aug_seed, step)``, moved to ``device``; the masks are held; the hooks see the detached
    logits and the CPU targets. ``augment`` is the dataset's augmentation (used when the config does
    not say)."""

    def __init__(
        self,
        augment: Augment,
        config: TrainConfig,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        masks: MaskEnforcer,
        hooks: Sequence[BatchHook],
        device: torch.device,
    ):
        self.model, self.optimizer, self.masks, self.hooks, self.device = model, optimizer, masks, hooks, device
        use_aug = augment.default if config.augment is None else config.augment
        self.aug = augment if use_aug else None
        self.aug_seed = config.aug_seed
        self.mean_loss = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.per_example = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, reduction="none")

    def __call__(self, step: int, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Step ``step`` on ``batch`` (inputs ``x``, labels ``y``, on the CPU); with loss weights the
        loss is the weighted mean of the per-example losses, which are returned (detached; None
        without weights)."""
        for g in self.optimizer.param_groups:
            g["lr"] = batch.lr
        b, y_cpu = batch.indices, y
        if self.aug is not None and self.aug.enabled:
            x = augment_batch(x, self.aug, seeded_generator(self.aug_seed, step, 0xA6))
        if self.device.type != "cpu":
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        logits = self.model(x)
        losses = None
        if batch.weights is None:
            loss = self.mean_loss(logits, y)
        else:
            losses = self.per_example(logits, y)
            loss = (losses * batch.weights.to(losses.device)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.masks.before_step()
        self.optimizer.step()
        self.masks.after_step()
        if self.hooks:
            detached = logits.detach().cpu()
            for h in self.hooks:
                h.on_batch(step, batch.epoch, b, detached, y_cpu)
        return None if losses is None else losses.detach()

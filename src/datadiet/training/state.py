"""What a training run carries from step to step (:class:`TrainState`) and what outlives it: the
resume state and the checkpoints, kept by a :class:`Checkpointer` through :class:`Persistence`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from datadiet.training.step import BatchHook


class Checkpointer(Protocol):
    """Where a training run keeps what must outlive the process (see :func:`datadiet.training.train`)."""

    def load_state(self) -> dict | None:
        """The last saved resume state, or None to start from step 0."""

    def save_state(self, state: dict) -> None:
        """Keep a resume state (step, seconds, model, optimizer, hooks); called at every epoch end."""

    def save_checkpoint(self, step: int, state_dict: dict) -> None:
        """Keep the model's state at ``step`` (one of ``checkpoint_steps``)."""

    def load_checkpoint(self, step: int) -> dict | None:
        """A checkpoint saved before an interruption, or None."""


@dataclass
class TrainState:
    """The model, optimiser and hooks of a run, its optimiser step count and its training seconds
    (``seconds`` before this process, plus the time since :meth:`start_clock`)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    hooks: Sequence[BatchHook]
    step: int
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def start_clock(self) -> None:
        self.started = time.perf_counter()

    def stop_clock(self) -> None:
        self.seconds += time.perf_counter() - self.started

    def resume_state(self, extra: dict) -> dict:
        """The resume state: ``step``, ``seconds``, ``model``, ``optimizer``, ``hooks`` and ``extra``'s keys."""
        return {
            "step": self.step,
            "seconds": self.seconds + time.perf_counter() - self.started,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "hooks": [h.state_dict() for h in self.hooks],
            **extra,
        }

    def load_resume_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for h, hs in zip(self.hooks, state["hooks"]):
            h.load_state_dict(hs)
        self.step, self.seconds = state["step"], state["seconds"]


class Persistence:
    """The run's :class:`Checkpointer` (None: nothing outlives the run) and the model checkpoints at
    ``steps``, kept in memory as well (CPU copies)."""

    def __init__(self, checkpointer: Checkpointer | None, steps: list[int]):
        self.checkpointer, self.steps = checkpointer, steps
        self.checkpoints: dict[int, dict] = {}

    def load_state(self) -> dict | None:
        return self.checkpointer.load_state() if self.checkpointer is not None else None

    def save_state(self, state: TrainState, extra: dict) -> None:
        if self.checkpointer is not None:
            self.checkpointer.save_state(state.resume_state(extra))

    def checkpoint(self, step: int, model: nn.Module) -> None:
        """Keep the model's weights if ``step`` is one of the checkpoint steps (once)."""
        if step in self.steps and step not in self.checkpoints:
            sd = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            if self.checkpointer is not None:
                self.checkpointer.save_checkpoint(step, sd)
            self.checkpoints[step] = sd

    def all_checkpoints(self) -> dict[int, dict]:
        """This process's checkpoints and those saved before an interruption."""
        if self.checkpointer is not None:
            for s in self.steps:
                if s not in self.checkpoints and (sd := self.checkpointer.load_checkpoint(s)) is not None:
                    self.checkpoints[s] = sd
        return self.checkpoints

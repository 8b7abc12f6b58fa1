"""Scores from your own training loop: feed it each step's batch, read EL2N, forgetting and AUM.

The definitions are the built-in scoring runs' (:mod:`datadiet.scores.basic`,
:class:`~datadiet.scores.ForgettingHook`, :class:`~datadiet.scores.AUMHook`), so the same training
gives the same scores::

    tracker = Tracker(len(train_set), score_epoch=2)            # EL2N after epoch 2
    for epoch in range(epochs):
        for indices, x, y in loader:                            # your loop, your data
            logits = model(x)
            ...                                                 # loss, backward, step
            tracker.update(indices, logits, y)                  # forgetting and AUM
        tracker.end_epoch(model, x_train, y_train)              # at epoch 2: EL2N in eval mode
    scores = tracker.scores("el2n")                             # higher = harder

Forgetting and AUM count the training batches' own logits (train mode, as Toneva et al. and
Pleiss et al. record them); model-based scores (EL2N, GraNd, loss, margins) score every example
with the model in eval mode at the end of epoch ``score_epoch``, like a scoring run's checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from datadiet.errors import DataDietError
from datadiet.scores.dynamics import AUMHook, ForgettingHook
from datadiet.scores.methods import MODEL_METHODS
from datadiet.validation import check_choice, check_positive_int

TRACKED = ("forgetting", "aum")


class Tracker:
    """Per-example scores from a training loop over ``n`` examples (indices in ``[0, n)``).

    ``score_epoch``: after how many epochs :meth:`end_epoch` computes the model-based ``methods``
    (default EL2N; None: only when :meth:`score_now` is called). Forgetting and AUM are always counted.
    """

    def __init__(self, n: int, *, score_epoch: int | None = 2, methods: Sequence[str] = ("el2n",)):
        self.n = check_positive_int("n", n)
        if score_epoch is not None:
            check_positive_int("score_epoch", score_epoch, allow_zero=True)
        self.score_epoch = score_epoch
        self.methods = tuple(check_choice("method", m, MODEL_METHODS) for m in methods)
        self.epoch = 0
        self.step = 0
        self._forgetting = ForgettingHook(n)
        self._aum = AUMHook(n)
        self._scores: dict[str, np.ndarray] = {}
        self.scored_at: int | None = None

    def update(self, indices, logits, labels) -> None:
        """One training step's batch: the examples' indices, the logits the model gave them in that
        forward pass (train mode; detached here) and their labels."""
        idx = torch.as_tensor(np.asarray(indices.detach().cpu() if isinstance(indices, torch.Tensor) else indices))
        z = logits.detach().cpu() if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
        y = torch.as_tensor(np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels))
        if idx.ndim != 1 or y.ndim != 1 or z.ndim != 2 or not (len(idx) == len(y) == len(z)):
            raise DataDietError(
                "update needs indices (B,), logits (B, classes) and labels (B,), got shapes "
                f"{tuple(idx.shape)}, {tuple(z.shape)}, {tuple(y.shape)}"
            )
        if idx.is_floating_point() or y.is_floating_point():
            raise DataDietError("update needs integer indices and labels")
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= self.n):
            raise DataDietError(f"indices must be in [0, {self.n}), got values in [{int(idx.min())}, {int(idx.max())}]")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= z.shape[1]):
            raise DataDietError(f"labels must be in [0, {z.shape[1]}) for logits of {z.shape[1]} classes")
        if not torch.isfinite(z).all():
            raise DataDietError("logits must be finite (did training diverge?)")
        idx, y = idx.long(), y.long()
        for hook in (self._forgetting, self._aum):
            hook.on_batch(self.step, self.epoch, idx, z, y)
        self.step += 1

    def end_epoch(self, model=None, inputs=None, targets=None, *, batch_size: int | None = None) -> None:
        """Close an epoch; at the end of epoch ``score_epoch``, score every example (:meth:`score_now`:
        needs the model and the training data)."""
        self.epoch += 1
        if self.epoch == self.score_epoch:
            if model is None or inputs is None:
                raise DataDietError(
                    f"epoch {self.score_epoch} is the scoring epoch: end_epoch needs the model and the training data"
                )
            self.score_now(model, inputs, targets, batch_size=batch_size)

    def score_now(self, model, inputs, targets=None, *, batch_size: int | None = None) -> None:
        """Score every example with ``model`` (eval mode) on ``inputs``/``targets`` (arrays, or a
        map-style ``torch.utils.data.Dataset`` of ``(x, y)`` with ``targets=None``) by the model-based
        ``methods``. :meth:`end_epoch` calls it at ``score_epoch``; call it before training for
        scores at initialisation (``score_epoch=0``)."""
        kw = {} if batch_size is None else {"batch_size": batch_size}  # None: each score's own default
        for m in self.methods:
            self._scores[m] = MODEL_METHODS[m](model, inputs, targets, **kw)
        self.scored_at = self.epoch

    def scores(self, method: str) -> np.ndarray:
        """``forgetting`` or ``aum`` counted so far, or a model-based method scored at ``score_epoch``."""
        check_choice("method", method, (*self.methods, *TRACKED))
        if method == "forgetting":
            return self._forgetting.scores()
        if method == "aum":
            return self._aum.scores()
        if method not in self._scores:
            raise DataDietError(
                f"{method} is scored at the end of epoch {self.score_epoch} (or by score_now); "
                f"{self.epoch} epoch(s) ended so far"
            )
        return self._scores[method]

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "forgetting": self._forgetting.state_dict(),
            "aum": self._aum.state_dict(),
            "scores": {k: torch.from_numpy(v) for k, v in self._scores.items()},
            "scored_at": self.scored_at,
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._forgetting.load_state_dict(state["forgetting"])
        self._aum.load_state_dict(state["aum"])
        self._scores = {k: v.numpy() for k, v in state["scores"].items()}
        self.scored_at = state["scored_at"]

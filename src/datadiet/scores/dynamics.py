"""Scores counted over training through the trainer's batch hooks: forgetting events and AUM.

Both see each training batch's example indices and the train-mode logits of that forward pass, as
the original implementations do (mini-batch accuracy / margins recorded during training).
"""

from __future__ import annotations

import numpy as np
import torch

from datadiet.scores.basic import margin_from_logits


class ForgettingHook:
    """Forgetting events (Toneva et al. 2019).

    Per example, counts the presentations at which its mini-batch prediction went from correct to
    incorrect since its previous presentation. Examples never classified correctly are the most
    forgettable: their score is ``presentations + 1``, above any count an example that was learned
    can reach (a finite stand-in for the original code's +inf, so averages over seeds stay finite).
    Examples never presented score NaN.
    """

    def __init__(self, n: int):
        self.n = n
        self.prev = torch.zeros(n, dtype=torch.bool)
        self.forgotten = torch.zeros(n, dtype=torch.int64)
        self.learned = torch.zeros(n, dtype=torch.bool)
        self.presented = torch.zeros(n, dtype=torch.int64)

    def on_batch(self, step, epoch, indices, logits, targets):
        correct = logits.argmax(1) == targets
        self.forgotten[indices] += (self.prev[indices] & ~correct).long()
        self.learned[indices] |= correct
        self.prev[indices] = correct
        self.presented[indices] += 1

    def scores(self) -> np.ndarray:
        s = self.forgotten.double()
        s = torch.where(self.learned, s, self.presented.double() + 1)
        s = torch.where(self.presented > 0, s, torch.full_like(s, float("nan")))
        return s.numpy()

    def state_dict(self) -> dict:
        return {
            "prev": self.prev.clone(),
            "forgotten": self.forgotten.clone(),
            "learned": self.learned.clone(),
            "presented": self.presented.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v.clone())


class AUMHook:
    """Area under the margin (Pleiss et al. 2020), negated so that higher = harder.

    The margin of a presentation is the true-class logit minus the largest other logit; AUM is its
    mean over the example's presentations. Low (negative) AUM flags mislabeled examples, so the score
    is ``-AUM``. Examples never presented score NaN.
    """

    def __init__(self, n: int):
        self.n = n
        self.total = torch.zeros(n, dtype=torch.float64)
        self.count = torch.zeros(n, dtype=torch.int64)

    def on_batch(self, step, epoch, indices, logits, targets):
        self.total[indices] += margin_from_logits(logits.double(), targets)
        self.count[indices] += 1

    def scores(self) -> np.ndarray:
        s = -self.total / self.count.clamp(min=1)
        return torch.where(self.count > 0, s, torch.full_like(s, float("nan"))).numpy()

    def state_dict(self) -> dict:
        return {"total": self.total.clone(), "count": self.count.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.total, self.count = state["total"].clone(), state["count"].clone()

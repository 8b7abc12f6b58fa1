"""The scoring methods: their registry, how a method is named, and how well seeds agree.

Pure: names and numbers in, names and numbers out. Convention: higher score = harder.
"""

from __future__ import annotations

import numpy as np

from datadiet.defaults import DEFAULT_SCORE_EPOCH
from datadiet.errors import DataDietError
from datadiet.scores.basic import el2n, logit_margin, loss, margin
from datadiet.scores.grand import grand
from datadiet.validation import check_choice, check_epoch

MODEL_METHODS = {"el2n": el2n, "grand": grand, "loss": loss, "margin": margin, "logit-margin": logit_margin}
TRAINING_DYNAMICS = (
    "forgetting",
    "aum",
)  # statistics of a whole training run, counted by batch hooks (not dynamic pruning)
BASELINES = ("input-norm", "random")  # need no training
METHODS = (*MODEL_METHODS, *TRAINING_DYNAMICS, *BASELINES)


def parse_method(spec: str, *, score_epoch: float = DEFAULT_SCORE_EPOCH) -> tuple[str, int | float | None]:
    """``METHOD`` or ``METHOD@T`` -> (method, epoch). Without ``@T`` a model-based method scores at
    ``score_epoch`` and a dynamic one (forgetting, AUM) gets None: counted over the whole schedule.
    ``T`` may be fractional for model-based methods (``el2n@0.5``: half an epoch in)."""
    name, sep, epoch = str(spec).partition("@")
    check_choice("method", name, METHODS)
    if not sep:
        return name, (None if name in TRAINING_DYNAMICS else score_epoch)
    try:
        t = float(epoch)
    except ValueError:
        raise DataDietError(f"method {spec!r}: the epoch after @ must be a number, got {epoch!r}") from None
    if name in TRAINING_DYNAMICS and not t.is_integer():
        raise DataDietError(f"method {spec!r}: {name} counts whole epochs, got {epoch!r}")
    return name, check_epoch(f"method {spec!r}: the epoch after @", t)


def scored_at(method: str, epoch: int, schedule_epochs: int) -> str:
    """Plain words for when a method's scores were taken, for tables and titles."""
    if method in BASELINES:
        return "no training"
    if method in TRAINING_DYNAMICS:
        if epoch >= schedule_epochs:
            return f"counted over all {schedule_epochs} epochs"
        return f"counted over epochs 0-{epoch} of {schedule_epochs}"
    return "at initialisation" if epoch == 0 else f"epoch {epoch} of {schedule_epochs}"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rho; for a constant column: 1 if the columns are equal, else 0 (no shared ranking)."""
    from scipy.stats import spearmanr

    if np.array_equal(a, b):
        return 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def seed_agreement(per_seed: np.ndarray) -> dict:
    """How well independent seeds agree on the ranking (how many seeds suffice).

    * ``pairwise``: the mean Spearman rho over all pairs of seeds: about 0 for independent random
      scores, 1 for identical seeds;
    * ``leave_one_out``: per seed, rho between that seed and the mean of the *other* seeds (a seed
      is never compared with an average that contains itself).

    Both are NaN with a single seed (nothing to agree with).
    """
    per_seed = np.asarray(per_seed, dtype=np.float64)
    k = per_seed.shape[1]
    if k < 2:
        return {"pairwise": float("nan"), "leave_one_out": [float("nan")] * k}
    pairs = [spearman(per_seed[:, i], per_seed[:, j]) for i in range(k) for j in range(i + 1, k)]
    loo = [spearman(per_seed[:, i], np.delete(per_seed, i, axis=1).mean(axis=1)) for i in range(k)]
    return {"pairwise": float(np.mean(pairs)), "leave_one_out": loo}

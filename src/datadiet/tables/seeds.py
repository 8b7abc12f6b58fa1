"""How the kept set moves with the number of score seeds and the score epoch (pure: arrays in, tables out).

Scores such as EL2N are the mean over S independent training runs ("score seeds") at a score epoch.
These tables measure how much of the kept set (the hardest ``keep`` fraction) changes when fewer
seeds, or an earlier epoch, are averaged.

Method
------
For m seeds, subsets A of m of the S seeds are drawn; the candidate is the mean of A's scores (at
epoch e), the reference a mean over seeds at the last epoch. Each pair is compared by
:func:`datadiet.selection.ranking_agreement`: the top-k overlap ``|kept_A & kept_ref| / k``, both
kept sets chosen by :func:`datadiet.selection.select` (``hardest``, the same rounding and seeded
tie order), and Spearman's rho. The reference depends on m (column ``comparison``):

* ``disjoint`` (2m <= S): the mean of the **other** S - m seeds. Candidate and reference share no
  training run, so the overlap is what independent runs agree on. Both sides carry seed noise, so
  it is a conservative (low) estimate of how well m seeds agree with the mean of many seeds, all S
  included. Only these rows are independent (``independent``), and only they are chosen by
  :func:`cheapest_setting`.
* ``nested`` (2m > S): no disjoint set as large is left; the reference is the mean of all S seeds,
  which contains A's own scores. Optimistic (shared noise): shown, never chosen. m = S at the last
  epoch compares a mean with itself and is exactly 1 (``trivial``).
* ``given``: a reference array passed in (scores of other runs than ``per_seed``'s), for every m.

Across epochs, the seeds are the same training runs (seed s at epoch 1 and at epoch 2 are points of
one trajectory), so disjointness is by seed: A at epoch e against the other seeds at the last epoch.

Draws: all C(S, m) subsets when there are at most ``draws`` of them, else ``draws`` distinct subsets
drawn by ``numpy.random.default_rng(seed)``; the same subsets serve every epoch (a paired
comparison). ``overlap_mean``/``overlap_min`` and ``spearman_mean``/``spearman_min`` are the mean and
the worst over the draws; ``draws`` says how many there were.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from datadiet.defaults import DEFAULT_SEED_COUNTS, DEFAULT_SEED_DRAWS, DEFAULT_SEEDS_KEEP
from datadiet.errors import DataDietError
from datadiet.selection import ranking_agreement
from datadiet.validation import check_epoch, check_finite_1d, check_fraction, check_positive_int

_ENUMERATE = 100_000  # up to this many subsets: enumerate them and draw without replacement
_COLUMNS = [
    "epoch",
    "seeds",
    "keep",
    "comparison",
    "reference_seeds",
    "reference_epoch",
    "draws",
    "overlap_mean",
    "overlap_min",
    "spearman_mean",
    "spearman_min",
    "independent",
    "trivial",
]


def seed_stability(
    per_seed,
    *,
    keep: float | Sequence[float] = DEFAULT_SEEDS_KEEP,
    counts: Sequence[int] = DEFAULT_SEED_COUNTS,
    reference=None,
    draws: int = DEFAULT_SEED_DRAWS,
    seed: int = 0,
) -> pd.DataFrame:
    """For each number of seeds m in ``counts`` (those <= S) and each kept fraction, how much of the
    reference's kept set the mean of m seeds keeps (see the module docstring for the method).

    Args:
        per_seed: (S, N) scores, one row per seed (higher = harder).
        keep: the kept fraction(s), each in (0, 1).
        counts: numbers of seeds to try; those above S are left out.
        reference: (N,) reference scores from other runs; default: the seeds' own (disjoint / nested).
        draws: subsets of seeds per m (all when there are fewer).
        seed: draws the subsets, and breaks ties between equal scores as ``select`` does.

    Returns:
        One row per (seeds, keep): ``seeds, keep, comparison, reference_seeds, draws, overlap_mean,
        overlap_min, spearman_mean, spearman_min, independent, trivial``.
    """
    per_seed = _check_per_seed("per_seed", per_seed)
    table = epoch_stability({0: per_seed}, keep=keep, counts=counts, reference=reference, draws=draws, seed=seed)
    return table.drop(columns=["epoch", "reference_epoch"])


def epoch_stability(
    per_epoch: Mapping[float, np.ndarray],
    *,
    keep: float | Sequence[float] = DEFAULT_SEEDS_KEEP,
    counts: Sequence[int] = DEFAULT_SEED_COUNTS,
    reference=None,
    draws: int = DEFAULT_SEED_DRAWS,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`seed_stability` over score epochs: ``per_epoch`` maps an epoch to its (S, N) scores, the
    same S seeds (in the same row order) at every epoch. The candidate is m seeds at epoch e, the
    reference is taken at the last (largest) epoch; one row per (epoch, seeds, keep), in that order,
    with ``epoch`` and ``reference_epoch`` columns."""
    arrays = _check_epochs(per_epoch)
    last = max(arrays)
    s, n = arrays[last].shape
    fractions = _check_keep(keep, n)
    ms = _check_counts(counts, s)
    draws = check_positive_int("draws", draws)
    seed = check_positive_int("seed", seed, allow_zero=True)
    ref = None if reference is None else check_finite_1d("reference", reference)
    if ref is not None and ref.shape != (n,):
        raise DataDietError(f"reference must have one score per example, shape ({n},), got {ref.shape}")
    rng = np.random.default_rng(seed)
    rows = []
    for m in ms:
        subsets = _subsets(s, m, draws, rng)
        for epoch in sorted(arrays):
            rows.extend(_rows(arrays[epoch], arrays[last], subsets, fractions, ref, seed, epoch=epoch, last=last))
    table = pd.DataFrame(rows, columns=_COLUMNS)
    return table.sort_values(["epoch", "seeds"], kind="stable").reset_index(drop=True)


def _rows(cand_all, ref_all, subsets, fractions, reference, seed: int, *, epoch, last) -> list[dict]:
    """The rows of one (epoch, m): each subset's mean against its reference, mean and worst over subsets."""
    s = ref_all.shape[0]
    m = len(subsets[0])
    kind = "given" if reference is not None else ("disjoint" if 2 * m <= s else "nested")
    everyone = ref_all.mean(axis=0)
    overlaps, rhos = {f: [] for f in fractions}, []
    for sub in subsets:
        if kind == "given":
            ref = reference
        elif kind == "disjoint":
            ref = ref_all[[i for i in range(s) if i not in sub]].mean(axis=0)
        else:
            ref = everyone
        agree = ranking_agreement(ref, cand_all[list(sub)].mean(axis=0), keep=fractions, seed=seed)
        rhos.append(agree["spearman"])
        for f in fractions:
            overlaps[f].append(agree["overlap"][f])
    return [
        {
            "epoch": epoch,
            "seeds": m,
            "keep": f,
            "comparison": kind,
            "reference_seeds": {"given": 0, "disjoint": s - m, "nested": s}[kind],
            "reference_epoch": last,
            "draws": len(subsets),
            "overlap_mean": float(np.mean(overlaps[f])),
            "overlap_min": float(np.min(overlaps[f])),
            "spearman_mean": float(np.mean(rhos)),
            "spearman_min": float(np.min(rhos)),
            "independent": kind != "nested",
            "trivial": kind == "nested" and m == s and epoch == last,
        }
        for f in fractions
    ]


def _subsets(s: int, m: int, draws: int, rng) -> list[tuple[int, ...]]:
    """All m-subsets of range(s) when at most ``draws`` exist, else ``draws`` distinct ones drawn by ``rng``."""
    total = math.comb(s, m)
    if total <= draws:
        return list(itertools.combinations(range(s), m))
    if total <= _ENUMERATE:
        every = list(itertools.combinations(range(s), m))
        return [every[i] for i in sorted(rng.choice(total, size=draws, replace=False))]
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < draws:  # C(s, m) > 100000 >> draws: collisions are rare
        seen.setdefault(tuple(sorted(int(i) for i in rng.choice(s, size=m, replace=False))), None)
    return list(seen)


def _check_per_seed(name: str, values) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 2:
        raise DataDietError(
            f"{name} must be a 2-D array (seeds x examples) with at least 2 examples, got shape {a.shape}"
        )
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataDietError(f"{name} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise DataDietError(f"{name} must be finite, got {int((~np.isfinite(a)).sum())} NaN or infinite value(s)")
    return a


def _check_epochs(per_epoch) -> dict:
    if not isinstance(per_epoch, Mapping) or not per_epoch:
        raise DataDietError("per_epoch must map each score epoch to its (seeds x examples) scores, got none")
    arrays = {check_epoch("epoch", e): _check_per_seed(f"scores at epoch {e}", a) for e, a in per_epoch.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise DataDietError(f"every epoch needs the same seeds and examples, got shapes {sorted(shapes)}")
    return arrays


def _check_keep(keep, n: int) -> tuple[float, ...]:
    items = [keep] if isinstance(keep, (int, float, np.integer, np.floating)) else list(keep)
    if not items or any(isinstance(f, (bool, np.bool_)) for f in items):
        raise DataDietError(f"keep must be one or more fractions in (0, 1), got {keep!r}")
    fractions = tuple(dict.fromkeys(check_fraction("keep", f, allow_one=False, allow_zero=False) for f in items))
    for f in fractions:
        if math.floor(f * n + 0.5) == 0:
            raise DataDietError(f"keep={f:g} keeps no example of N={n}")
    return fractions


def _check_counts(counts, s: int) -> list[int]:
    ms = sorted({check_positive_int("counts", c) for c in counts})
    usable = [m for m in ms if m <= s]
    if not usable:
        raise DataDietError(f"counts must include a number of seeds <= the {s} available, got {list(counts)}")
    return usable


def _cost(row) -> tuple:
    """Cheaper first: fewer seed-epochs of training, then fewer seeds, then an earlier epoch."""
    epoch = row["epoch"] if "epoch" in row else 1
    return (row["seeds"] * epoch, row["seeds"], epoch)


def _candidates(table: pd.DataFrame, keep: float) -> pd.DataFrame:
    rows = table[table["independent"] & ~table["trivial"] & np.isclose(table["keep"], keep)]
    return rows.iloc[sorted(range(len(rows)), key=lambda i: _cost(rows.iloc[i]))]


def cheapest_setting(table: pd.DataFrame, *, keep: float, target: float) -> pd.Series | None:
    """The cheapest independent row at kept fraction ``keep`` (fewest seeds x epoch, then fewest seeds,
    then earliest epoch) whose ``overlap_mean`` is >= ``target``; None when none is. Nested rows (their
    reference contains their own seeds) are never chosen. Every independent row uses at most half
    the seeds, at no later epoch, so it is cheaper than the reference (all seeds at the last epoch)."""
    target = check_fraction("target", target)
    rows = _candidates(table, keep)
    passing = rows[rows["overlap_mean"] >= target]
    return passing.iloc[0] if len(passing) else None


def closest_setting(table: pd.DataFrame, *, keep: float) -> pd.Series | None:
    """The independent row at ``keep`` with the highest ``overlap_mean`` (the cheapest among equals);
    None when there is none (a single seed)."""
    rows = _candidates(table, keep)
    if not len(rows):
        return None
    return rows.iloc[int(np.argmax(rows["overlap_mean"].to_numpy()))]

"""Choose which examples to keep, given one score per example.

Functional core: arrays in, arrays out, keyword-only options. The package convention holds:
**higher score = harder = more important**; ``strategy="hardest"`` (the Data Diet default) keeps the
highest scores.

Policies, stated once
---------------------
* **Scores** must be a non-empty 1-D array of finite real numbers. NaN or +/-inf are refused with a
  :class:`~datadiet.errors.DataDietError` that counts them (impute or drop them before selecting;
  forgetting scores use a finite stand-in for "never learned", so they pass).
* **Rounding**: ``keep`` (and ``offset``) given as a float in [0, 1] is a fraction of N and becomes
  ``floor(f * N + 0.5)`` examples (round half up, in float64). An int is a count in [0, N].
  ``1.0`` means all N, ``1`` means one example; bools are refused.
* **Ties** are broken in a seeded random order, never by index: ranking sorts a random permutation
  of the examples (drawn from ``seed``) stably by score, so among equal scores which example counts
  as harder is random but reproducible for the same ``seed`` (``hardest``, ``easiest``, ``window``
  and the ``ccs`` cutoff). Breaking ties by index would bias every strategy toward the start of the
  file, badly so for a class-sorted file.
* **Balanced** (``balanced=True``, needs ``labels``): the total kept is the same count as
  unbalanced; it is split over classes in proportion to class size by largest-remainder rounding
  (exact integer arithmetic; equal remainders go to the lower label), so per-class counts sum to the
  total exactly. The strategy then runs inside each class; ``offset`` and ``hard_cutoff`` are applied
  per class as fractions of the class size (rounded half up, then lowered by at most one where
  needed so the class window fits the class). Randomness (``random``, ``ccs``) draws from one
  generator seeded by ``seed``, visiting classes in ascending label order.
* The result is always a sorted, unique ``int64`` array of indices into ``scores``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from datadiet.defaults import DEFAULT_CCS_BINS
from datadiet.errors import DataDietError
from datadiet.scores.methods import spearman
from datadiet.validation import (
    check_choice,
    check_count_or_fraction,
    check_finite_1d,
    check_fraction,
    check_indices,
    check_labels,
    check_positive_float,
    check_positive_int,
)

STRATEGIES: tuple[str, ...] = ("hardest", "easiest", "window", "random", "ccs")

_EMPTY = np.empty(0, dtype=np.int64)

# the options of select() each strategy uses; the others must keep their defaults
STRATEGY_OPTIONS: dict[str, tuple[str, ...]] = {
    "hardest": (),
    "easiest": (),
    "window": ("offset",),
    "random": (),
    "ccs": ("hard_cutoff", "bins"),
}


def strategy_options(strategy: str, *, offset=0.0, hard_cutoff=0.0, bins: int = DEFAULT_CCS_BINS) -> dict:
    """The keyword options of :func:`select` that ``strategy`` uses, from all of them."""
    given = {"offset": offset, "hard_cutoff": hard_cutoff, "bins": bins}
    return {k: given[k] for k in STRATEGY_OPTIONS[check_choice("strategy", strategy, STRATEGIES)]}


def select(
    scores,
    *,
    keep,
    strategy: str = "hardest",
    offset=0,
    labels=None,
    balanced: bool = False,
    seed: int = 0,
    bins: int = DEFAULT_CCS_BINS,
    hard_cutoff: float = 0.0,
) -> np.ndarray:
    """Indices of the examples to keep, sorted ascending, unique, int64.

    Args:
        scores: (N,) finite real scores, higher = harder.
        keep: fraction of N (float in [0, 1], rounded half up) or count (int in [0, N]).
        strategy: one of :data:`STRATEGIES`:

            * ``hardest``: the highest scores (Data Diet default).
            * ``easiest``: the lowest scores.
            * ``window``: sort by score descending, skip the ``offset`` hardest, keep the next ones.
            * ``random``: a uniform random subset seeded by ``seed``; score values are ignored.
            * ``ccs``: coverage-centric coreset selection (Zheng et al. 2023): drop the
              ``hard_cutoff`` fraction of hardest examples, split the remaining score range into
              ``bins`` equal-width strata (the maximum falls in the last one), give each non-empty
              stratum ``budget // strata_left`` examples, smallest strata first, so a stratum with
              fewer examples passes its leftover on to the larger ones; sample within each stratum
              uniformly at random with ``seed``.
        offset: ``window`` only: how many hardest examples to skip, a fraction of N (float) or a
            count (int); ``offset + kept <= N``.
        labels: (N,) integer class labels; required with ``balanced=True``.
        balanced: apply the strategy within each class so every class keeps the same fraction.
        seed: seed for ``random`` and ``ccs``, and for the random order that breaks ties.
        bins: number of ``ccs`` strata.
        hard_cutoff: ``ccs`` only: fraction in [0, 1] of hardest examples dropped first.

    Raises:
        DataDietError: bad scores (NaN/inf, not 1-D, empty), ``keep``/``offset`` out of range, an
        unknown strategy, ``offset`` or ``hard_cutoff`` given to a strategy that does not use them,
        the window or the cutoff leaving too few examples, or missing / malformed labels.
    """
    s = check_finite_1d("scores", scores)
    n = s.size
    k, off, n_cut = _check_options(n, strategy, keep, offset, hard_cutoff, balanced)
    seed = check_positive_int("seed", seed, allow_zero=True)
    bins = check_positive_int("bins", bins)
    if balanced and labels is None:
        raise DataDietError("labels are required with balanced=True, got labels=None")
    y = check_labels("labels", labels, n) if labels is not None else None

    rng = np.random.default_rng(seed)
    if not balanced:
        picked = _select_one(s, k, strategy, off, n_cut, bins, rng)
        return np.sort(picked).astype(np.int64)
    return _select_balanced(s, y, k, strategy, offset, off, float(hard_cutoff), bins, rng)


def _check_options(n: int, strategy: str, keep, offset, hard_cutoff, balanced) -> tuple[int, int, int]:
    """``(kept, offset, cut)`` as counts of N, each option checked against the strategy."""
    check_choice("strategy", strategy, STRATEGIES)
    k = check_count_or_fraction("keep", keep, n)
    off = check_count_or_fraction("offset", offset, n)
    if isinstance(hard_cutoff, (bool, np.bool_)):
        raise DataDietError(f"hard_cutoff must be a fraction in [0, 1], got {hard_cutoff!r}")
    cutoff = check_fraction("hard_cutoff", hard_cutoff)
    if not isinstance(balanced, (bool, np.bool_)):
        raise DataDietError(f"balanced must be True or False, got {balanced!r}")
    if off and strategy != "window":
        raise DataDietError(f"offset applies only to strategy='window', got offset={offset!r} with {strategy!r}")
    if cutoff and strategy != "ccs":
        raise DataDietError(
            f"hard_cutoff applies only to strategy='ccs', got hard_cutoff={hard_cutoff!r} with {strategy!r}"
        )
    if strategy == "window" and off + k > n:
        raise DataDietError(f"offset + kept must fit in N={n}: offset={offset!r} ({off}) + keep={keep!r} ({k})")
    n_cut = _round_fraction(cutoff, n)
    if strategy == "ccs" and k > n - n_cut:
        raise DataDietError(
            f"keep={keep!r} ({k}) exceeds the {n - n_cut} examples left after hard_cutoff={hard_cutoff!r} "
            f"drops {n_cut} of N={n}"
        )
    return k, off, n_cut


def _select_balanced(s, y, k: int, strategy: str, offset, off: int, cutoff: float, bins: int, rng) -> np.ndarray:
    """The strategy within each class, every class keeping its share of ``k`` (largest remainder);
    a count offset is offset / N of each class, a fractional one that fraction of it, rounded exactly."""
    n = s.size
    classes, inverse, sizes = np.unique(y, return_inverse=True, return_counts=True)
    counts = _largest_remainder(k, sizes)
    parts = []
    for c in range(classes.size):
        members = np.flatnonzero(inverse == c)
        n_c, k_c = int(sizes[c]), int(counts[c])
        off_c = cut_c = 0
        if strategy == "window":
            off_c = (
                _round_ratio(off, n_c, n)
                if isinstance(offset, (int, np.integer))
                else _round_fraction(float(offset), n_c)
            )
            off_c = min(off_c, n_c - k_c)
        elif strategy == "ccs":
            cut_c = min(_round_fraction(cutoff, n_c), n_c - k_c)
        parts.append(members[_select_one(s[members], k_c, strategy, off_c, cut_c, bins, rng)])
    return np.sort(np.concatenate(parts)).astype(np.int64) if parts else _EMPTY.copy()


def _round_fraction(f: float, n: int) -> int:
    """Round half up: floor(f * n + 0.5)."""
    return int(math.floor(f * n + 0.5))


def _round_ratio(a: int, b: int, n: int) -> int:
    """floor(a * b / n + 1/2) in exact integer arithmetic."""
    return (2 * a * b + n) // (2 * n)


def _largest_remainder(k: int, sizes: np.ndarray) -> np.ndarray:
    """Split k over groups in proportion to sizes; counts sum to k; ties go to the lower group."""
    sizes = sizes.astype(np.int64)
    n = int(sizes.sum())
    prod = [k * int(z) for z in sizes]
    base = np.array([p // n for p in prod], dtype=np.int64)
    rem = np.array([p % n for p in prod], dtype=np.int64)
    left = k - int(base.sum())
    base[np.argsort(-rem, kind="stable")[:left]] += 1
    return base


def _select_one(s: np.ndarray, k: int, strategy: str, off: int, n_cut: int, bins: int, rng) -> np.ndarray:
    """Positions into s (unsorted) for one group."""
    if k == 0:
        return _EMPTY
    return _STRATEGY_FNS[strategy](s, k, off, n_cut, bins, rng)


def _ranked(s: np.ndarray, rng, *, hardest_first: bool) -> np.ndarray:
    """Positions sorted by score, ties in a random order drawn from ``rng`` (never by index)."""
    perm = rng.permutation(s.size)
    return perm[np.argsort(-s[perm] if hardest_first else s[perm], kind="stable")]


def _ccs(s: np.ndarray, k: int, n_cut: int, bins: int, rng) -> np.ndarray:
    pool = np.sort(_ranked(s, rng, hardest_first=True)[n_cut:]) if n_cut else np.arange(s.size)
    strata = ccs_strata(s[pool], bins=bins)
    budgets = ccs_allocate(k, np.bincount(strata, minlength=bins))
    chosen = [rng.permutation(pool[strata == b])[: budgets[b]] for b in np.flatnonzero(budgets)]
    return np.concatenate(chosen) if chosen else _EMPTY


# strategy -> positions of the k kept examples of one group (s, k, offset, hard cutoff, bins, rng)
_STRATEGY_FNS = {
    "hardest": lambda s, k, off, n_cut, bins, rng: _ranked(s, rng, hardest_first=True)[:k],
    "easiest": lambda s, k, off, n_cut, bins, rng: _ranked(s, rng, hardest_first=False)[:k],
    "window": lambda s, k, off, n_cut, bins, rng: _ranked(s, rng, hardest_first=True)[off : off + k],
    "random": lambda s, k, off, n_cut, bins, rng: rng.permutation(s.size)[:k],
    "ccs": lambda s, k, off, n_cut, bins, rng: _ccs(s, k, n_cut, bins, rng),
}
assert tuple(_STRATEGY_FNS) == STRATEGIES


def ccs_strata(values: np.ndarray, *, bins: int) -> np.ndarray:
    """Stratum (0 .. bins-1) of each value: equal-width bins over [min, max], max in the last bin."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return _EMPTY.copy()
    lo, hi = float(v.min()), float(v.max())
    width = hi * 0.5 - lo * 0.5  # halved so that a huge range cannot overflow to inf
    if not width > 0:
        return np.zeros(v.size, dtype=np.int64)
    pos = (v * 0.5 - lo * 0.5) / width
    return np.clip(np.floor(pos * bins), 0, bins - 1).astype(np.int64)


def ccs_allocate(budget: int, counts) -> np.ndarray:
    """CCS budget split: visit non-empty strata from smallest to largest (ties: lower stratum first),
    give each ``min(size, remaining // strata_left)``; the sum equals ``budget`` when it fits."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(counts.size, dtype=np.int64)
    order = [int(i) for i in np.argsort(counts, kind="stable") if counts[i] > 0]
    remaining = int(budget)
    for j, i in enumerate(order):
        take = min(int(counts[i]), remaining // (len(order) - j))
        out[i] = take
        remaining -= take
    return out


def kept_per_class(indices, labels, class_names: Sequence[str] | Mapping[int, str] | None = None) -> pd.DataFrame:
    """One row per class present in ``labels`` (classes with nothing kept included).

    Columns: ``class`` (int), ``name`` (``class_names[class]``, or ``str(class)``), ``total``,
    ``kept``, ``kept_fraction`` (kept / total).
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise DataDietError(f"labels must be 1-D with shape (N,), got shape {y.shape}")
    y = check_labels("labels", y, y.shape[0])
    idx = check_indices("indices", indices, y.size)
    classes, sizes = np.unique(y, return_counts=True)
    kept = np.array([int(np.count_nonzero(y[idx] == c)) for c in classes], dtype=np.int64)
    names = [_class_name(int(c), class_names) for c in classes]
    return pd.DataFrame(
        {
            "class": classes.astype(np.int64),
            "name": names,
            "total": sizes.astype(np.int64),
            "kept": kept,
            "kept_fraction": kept / np.maximum(sizes, 1),
        }
    )


def _class_name(c: int, class_names) -> str:
    if class_names is None:
        return str(c)
    try:
        if isinstance(class_names, Mapping):
            return str(class_names[c])
        if c < 0:
            raise IndexError(c)
        return str(class_names[c])
    except (KeyError, IndexError):
        raise DataDietError(f"class_names has no entry for class {c}") from None


def storage_report(indices, n_total: int, bytes_per_example) -> dict:
    """What keeping ``indices`` out of ``n_total`` examples saves.

    Returns ``kept``, ``pruned``, ``fraction_kept``, ``bytes_kept``, ``bytes_saved`` (ints when
    ``bytes_per_example`` is an int, floats otherwise).
    """
    n_total = check_positive_int("n_total", n_total)
    idx = check_indices("indices", indices, n_total)
    if isinstance(bytes_per_example, (bool, np.bool_)):
        raise DataDietError(f"bytes_per_example must be a number >= 0, got {bytes_per_example!r}")
    if isinstance(bytes_per_example, (int, np.integer)):
        bpe = check_positive_int("bytes_per_example", bytes_per_example, allow_zero=True)
    else:
        bpe = check_positive_float("bytes_per_example", bytes_per_example, allow_zero=True)
    kept = int(idx.size)
    pruned = n_total - kept
    return {
        "kept": kept,
        "pruned": pruned,
        "fraction_kept": kept / n_total,
        "bytes_kept": kept * bpe,
        "bytes_saved": pruned * bpe,
    }


def noisy_recall(scores, noisy, *, top: float = 0.1, seed: int = 0) -> float:
    """Fraction of the corrupted examples (``noisy``, a boolean mask) among the ``top`` fraction of
    highest scores, selected (ties included) exactly as ``strategy="hardest"`` keeps them."""
    s = check_finite_1d("scores", scores)
    mask = np.asarray(noisy)
    if mask.dtype != bool or mask.shape != s.shape:
        raise DataDietError(f"noisy must be a boolean mask of shape {s.shape}, got {mask.dtype} of shape {mask.shape}")
    kept = select(s, keep=top, strategy="hardest", seed=seed)
    return float(mask[kept].sum() / max(1, mask.sum()))


def ranking_agreement(reference, candidate, *, keep: Sequence[float] = (0.5,), seed: int = 0) -> dict:
    """How closely ``candidate`` scores (a proxy, fewer seeds, an earlier epoch) rank the examples like
    ``reference`` scores of the same examples.

    Returns ``{"spearman": rho, "overlap": {keep: share}}``: Spearman's rank correlation, and for each
    kept fraction the share of the reference's kept set (``select(reference, keep=f)``, the hardest)
    that the candidate keeps too, ``|kept_ref & kept_cand| / k`` (1 = the same subset; about ``f`` for
    unrelated scores). Ties are broken by the same seeded order for both.
    """
    ref = check_finite_1d("reference", reference)
    cand = check_finite_1d("candidate", candidate)
    if cand.shape != ref.shape:
        raise DataDietError(f"candidate must have the reference's shape {ref.shape}, got {cand.shape}")
    overlap = {}
    for f in keep:
        a = select(ref, keep=float(f), seed=seed)
        b = select(cand, keep=float(f), seed=seed)
        overlap[float(f)] = float(np.intersect1d(a, b).size / a.size) if a.size else float("nan")
    return {"spearman": spearman(ref, cand), "overlap": overlap}

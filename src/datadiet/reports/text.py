"""How numbers are written: accuracies as mean ± std (n), differences with the seeds behind them."""

from __future__ import annotations

import numpy as np

from datadiet.tables import seed_stats


def pct(fraction: float) -> str:
    """A fraction as a percentage: ``0.3`` -> ``"30%"``."""
    return f"{100 * fraction:g}%"


def format_stats(mean: float, std: float, n: int) -> str:
    """``(mean, std, n)`` of :func:`datadiet.tables.seed_stats` as percent: ``"92.31 ± 0.14 (n=3)"``;
    one seed: ``"92.74 (n=1)"``; none: ``""``."""
    if n == 0:
        return ""
    if n == 1:
        return f"{100 * mean:.2f} (n=1)"
    return f"{100 * mean:.2f} ± {100 * std:.2f} (n={n})"


def format_mean_std(values) -> str:
    """Accuracies in [0, 1] as percent: ``"92.31 ± 0.14 (n=3)"``; one seed: ``"92.74 (n=1)"``; none: ``""``."""
    return format_stats(*seed_stats(values))


def format_difference(points: float, n: int, n_ref: int) -> str:
    """A difference of two means in percentage points with the seeds behind it: ``"+1.26 (n=2)"``,
    or ``"-0.22 (n=1 vs 2)"`` when the two means rest on different numbers of seeds."""
    if points is None or not np.isfinite(points):
        return ""
    return f"{points:+.2f} (n={n})" if n == n_ref else f"{points:+.2f} (n={n} vs {n_ref})"

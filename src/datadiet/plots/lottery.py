"""Lottery-ticket figures: accuracy vs weights remaining, error along an interpolation path, and the
study's summaries (accuracy vs pre-training subset, barrier vs sparse accuracy)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from datadiet.errors import DataDietError
from datadiet.plots.diagnostics import save_figure

CONDITION_STYLES = {
    "imp": {"color": "#1f4e9c", "marker": "o", "label": "IMP (rewound ticket)"},
    "random-prune": {"color": "#c0392b", "marker": "s", "label": "random pruning, same layer sparsity"},
    "random-reinit": {"color": "#7f8c8d", "marker": "^", "label": "IMP mask, random re-initialisation"},
}


def _band(values: pd.Series) -> tuple[float, float, float]:
    v = values.to_numpy(dtype=float) * 100
    if v.size >= 3:
        s = v.std(ddof=1)
        return v.mean(), v.mean() - s, v.mean() + s
    return v.mean(), v.min(), v.max()


def _split_empty(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows a log axis can draw (some weights remaining), and a note on the rows left out: a level
    pruned to 0 weights remaining has no place on a log axis."""
    empty = results["remaining"].to_numpy(dtype=float) <= 0
    if not empty.any():
        return results, ""
    acc = results.loc[empty, "test_accuracy"].to_numpy(dtype=float) * 100
    levels = results.loc[empty, "level"].nunique()
    note = (
        f"\n{levels} level{'s' if levels != 1 else ''} with 0 weights remaining not drawn "
        f"(no place on a log axis): test accuracy there {acc.mean():.2f}%"
    )
    return results[~empty], note


def accuracy_vs_remaining(
    results: pd.DataFrame, path: str | Path, *, title: str = "", group: str = "condition"
) -> Path:
    """Test accuracy vs fraction of weights remaining (log axis), one line per ``group`` value, with
    the dense network (level 0) as a band; bands are ±1 std over replicates (min–max under 3).
    Levels with no weights remaining are left out (the x label says so, with their accuracy)."""
    need = {group, "remaining", "test_accuracy", "level"}
    if not isinstance(results, pd.DataFrame) or not need <= set(results.columns):
        raise DataDietError(f"results must be a table with columns {sorted(need)}")
    results, note = _split_empty(results)
    dense = results[results["level"] == 0]
    fig, ax = plt.subplots(figsize=(9.5, 5.2), layout="constrained")
    if len(dense):
        m, lo, hi = _band(dense["test_accuracy"])
        ax.axhspan(lo, hi, color="black", alpha=0.08, linewidth=0)
        ax.axhline(m, color="black", linestyle=(0, (5, 3)), linewidth=1.2, label=f"dense ({m:.2f}%)")
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, g) in enumerate(results.groupby(group, sort=False)):
        style = CONDITION_STYLES.get(name, {"color": palette[i % len(palette)], "marker": "o", "label": str(name)})
        pts = g[g["level"] > 0] if name in ("random-prune", "random-reinit") else g
        stats = pts.groupby("remaining")["test_accuracy"].apply(_band).sort_index(ascending=False)
        x = stats.index.to_numpy() * 100
        mean = np.array([s[0] for s in stats])
        ax.fill_between(x, [s[1] for s in stats], [s[2] for s in stats], color=style["color"], alpha=0.15, linewidth=0)
        ax.plot(x, mean, color=style["color"], marker=style["marker"], label=style["label"], linewidth=1.8)
    ax.set_xscale("log")
    ax.invert_xaxis()
    ticks = sorted(results["remaining"].unique() * 100, reverse=True)
    ax.set_xticks(ticks, [f"{t:.1f}" if t < 10 else f"{t:.0f}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("weights remaining (%), log scale" + note)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    ax.set_title(title or "accuracy vs weights remaining", fontsize=10)
    return save_figure(fig, path)


def _barrier_label(ax, a: np.ndarray, p: np.ndarray, mean: np.ndarray, barrier: float) -> None:
    """The barrier written above the highest path, with an arrow down to the mean's peak, in headroom
    kept free at the top of the axes (so the label never crosses the frame or the title)."""
    lo, top = float(p.min()), float(p.max())
    span = top - lo or 1.0
    ax.set_ylim(lo - 0.05 * span, top + 0.25 * span)
    i = int(mean.argmax())
    where = (a[i] - a.min()) / ((a.max() - a.min()) or 1.0)
    ax.annotate(
        f"barrier {barrier:.2f} points",
        xy=(a[i], mean[i]),
        xytext=(a[i], top + 0.08 * span),
        ha="left" if where < 0.2 else ("right" if where > 0.8 else "center"),
        va="bottom",
        fontsize=9,
        arrowprops={"arrowstyle": "-|>", "color": "0.3", "linewidth": 0.8, "shrinkB": 5},
    )


def interpolation_paths(alphas, paths, path: str | Path, *, title: str = "") -> Path:
    """Test error along the linear path between pairs of networks (one thin line per pair, the mean bold)."""
    a = np.asarray(alphas, dtype=float)
    p = np.asarray(paths, dtype=float) * 100
    if p.ndim != 2 or p.shape[1] != a.size:
        raise DataDietError(f"paths must be (pairs, {a.size}) errors, got shape {p.shape}")
    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    for row in p:
        ax.plot(a, row, color="#1f4e9c", alpha=0.35, linewidth=1)
    mean = p.mean(axis=0)
    ax.plot(a, mean, color="#1f4e9c", linewidth=2.2, marker="o")
    _barrier_label(ax, a, p, mean, mean.max() - 0.5 * (mean[0] + mean[-1]))
    ax.set_xlabel("interpolation α (0 and 1: the two trained copies)")
    ax.set_ylabel("test error (%)")
    ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color="#1f4e9c", linewidth=2.2, marker="o", label=f"mean of {len(p)} pair(s)")]
    if len(p) > 1:
        handles.insert(0, plt.Line2D([], [], color="#1f4e9c", alpha=0.35, linewidth=1, label=f"each pair ({len(p)})"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    ax.set_title(title or "error along the linear path", fontsize=10)
    return save_figure(fig, path)


def scatter(
    df: pd.DataFrame, x: str, y: str, path: str | Path, *, hue: str, xlabel: str, ylabel: str, title: str
) -> Path:
    """One point per row, coloured by ``hue``, with the Spearman correlation in the title."""
    from scipy.stats import spearmanr

    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    for name, g in df.groupby(hue, sort=False):
        ax.scatter(g[x], g[y], label=str(name), s=36, alpha=0.85)
    rho = spearmanr(df[x], df[y]).statistic if len(df) > 2 else float("nan")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{title} (Spearman {rho:.2f}, n={len(df)})", fontsize=10)
    return save_figure(fig, path)


def accuracy_vs_subset_size(df: pd.DataFrame, path: str | Path, *, full: pd.Series | None, title: str) -> Path:
    """Accuracy at the deepest level vs pre-training subset size (log axis), one line per subset kind
    (``kind`` column: easy, random, hard), with the full-data rewind point as a band."""
    need = {"kind", "pretrain_size", "test_accuracy"}
    if not need <= set(df.columns):
        raise DataDietError(f"df must have columns {sorted(need)}")
    styles = {"easy": ("#2e8b57", "v"), "random": ("#1f4e9c", "o"), "hard": ("#c0392b", "^")}
    fig, ax = plt.subplots(figsize=(8.5, 5.0), layout="constrained")
    if full is not None and len(full):
        m, lo, hi = _band(full)
        ax.axhspan(lo, hi, color="black", alpha=0.08, linewidth=0)
        ax.axhline(m, color="black", linestyle=(0, (5, 3)), linewidth=1.2, label=f"full data ({m:.2f}%)")
    for kind, g in df.groupby("kind", sort=False):
        color, marker = styles.get(kind, ("#555555", "o"))
        stats = g.groupby("pretrain_size")["test_accuracy"].apply(_band).sort_index()
        x = stats.index.to_numpy()
        ax.fill_between(x, [s[1] for s in stats], [s[2] for s in stats], color=color, alpha=0.15, linewidth=0)
        ax.plot(x, [s[0] for s in stats], color=color, marker=marker, label=f"{kind} subset", linewidth=1.8)
    ax.set_xscale("log")
    sizes = sorted(df["pretrain_size"].unique())
    ax.set_xticks(sizes, [str(int(s)) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("pre-training subset size (examples, class-balanced), log scale")
    ax.set_ylabel("test accuracy at the deepest level (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)

"""Figures and tables for a pruning sweep (the "Deep Learning on a Data Diet" Figure 1 family).

A *sweep results table* is a :class:`pandas.DataFrame` with one row per (method, fraction, seed):

* ``method`` (str): the scoring method (``random``, ``el2n``, ``grand``, ...);
* ``fraction`` (float): the fraction of the training set **pruned** (0 = full data);
* ``seed`` (int), ``train_size`` (int);
* ``test_accuracy`` (float in [0, 1]) and ``class_<k>_accuracy`` for every class ``k``;
* ``scoring_examples``, ``scoring_seconds``: the cost of computing the method's scores (repeated on
  each of its rows); ``train_examples``, ``train_seconds``: the cost of the final training run.

Fraction-0 rows may be labelled ``method == "full"`` or appear once under each method: either way
they are the same experiment (nothing pruned), so they are pooled and **the full-data accuracy is the
mean ``test_accuracy`` over all rows with ``fraction == 0``**. Every method's curve starts at that
pooled point.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from datadiet.errors import DataDietError
from datadiet.plots.diagnostics import STYLE, save_figure

FULL_METHOD = "full"

#: Fixed colour / line style / marker per method (tab10, so colour-blind-friendly and stable across
#: figures). Unknown methods get the remaining colours in sorted-name order.
METHOD_STYLES: dict[str, dict] = {
    "random": {"color": "#7f7f7f", "linestyle": "--", "marker": "o"},
    "el2n": {"color": "#1f77b4", "linestyle": "-", "marker": "s"},
    "grand": {"color": "#ff7f0e", "linestyle": "-", "marker": "^"},
    "forgetting": {"color": "#2ca02c", "linestyle": "-", "marker": "D"},
    "aum": {"color": "#9467bd", "linestyle": "-", "marker": "v"},
    "loss": {"color": "#8c564b", "linestyle": "-", "marker": "P"},
    "margin": {"color": "#e377c2", "linestyle": "-", "marker": "X"},
    "input-norm": {"color": "#17becf", "linestyle": "-.", "marker": "h"},
}
_EXTRA_STYLES = [
    {"color": "#bcbd22", "linestyle": "-", "marker": "p"},
    {"color": "#d62728", "linestyle": "-", "marker": "<"},
    {"color": "#1f77b4", "linestyle": ":", "marker": ">"},
    {"color": "#ff7f0e", "linestyle": ":", "marker": "d"},
    {"color": "#2ca02c", "linestyle": ":", "marker": "8"},
]
_CANONICAL_ORDER = list(METHOD_STYLES)
FULL_BAND_POINTS = 0.3  # ± percentage points drawn around the full-data line

_CLASS_COLUMN = re.compile(r"^class_(\d+)_accuracy$")


def _key(method: str) -> str:
    return str(method).strip().lower().replace("_", "-")


def method_order(methods) -> list[str]:
    """Methods in display order: random first, then the known methods, then the rest by name."""
    methods = list(dict.fromkeys(str(m) for m in methods))

    def rank(m: str):
        k = _key(m).partition("@")[0]
        return (_CANONICAL_ORDER.index(k), m) if k in METHOD_STYLES else (len(_CANONICAL_ORDER), m)

    return sorted(methods, key=rank)


def method_styles(methods) -> dict[str, dict]:
    """Colour, line style and marker for each method (fixed for known names)."""
    out, extra = {}, 0
    for m in method_order(methods):
        k = _key(m)
        base = k.partition("@")[0]
        if k in METHOD_STYLES:
            out[m] = dict(METHOD_STYLES[k])
        elif base in METHOD_STYLES:  # "grand@0": GraNd scored at another epoch: its colour, lighter, dotted
            import matplotlib.colors as mcolors

            rgb = np.array(mcolors.to_rgb(METHOD_STYLES[base]["color"]))
            out[m] = {**METHOD_STYLES[base], "linestyle": ":", "color": mcolors.to_hex(0.55 * rgb + 0.45)}
        else:
            out[m] = dict(_EXTRA_STYLES[extra % len(_EXTRA_STYLES)])
            extra += 1
    return out


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _check_results(results, need: Sequence[str]) -> pd.DataFrame:
    if not isinstance(results, pd.DataFrame):
        raise DataDietError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    need = ["method", "fraction", "test_accuracy", *need]
    missing = [c for c in dict.fromkeys(need) if c not in results.columns]
    if missing:
        raise DataDietError(f"results is missing column(s) {missing}; it has {list(results.columns)}")
    if len(results) == 0:
        raise DataDietError("results must have at least one row, got an empty table")
    df = results.copy()
    df["method"] = df["method"].astype(str)
    frac = pd.to_numeric(df["fraction"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(frac)) or frac.min() < 0 or frac.max() >= 1:
        raise DataDietError(
            f"results['fraction'] must be finite and in [0, 1), got values in [{np.nanmin(frac)}, {np.nanmax(frac)}]"
        )
    df["fraction"] = np.round(frac, 6)  # so 0.3 from different float paths groups together
    acc = pd.to_numeric(df["test_accuracy"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(acc)):
        raise DataDietError(
            f"results['test_accuracy'] must be finite, got {int((~np.isfinite(acc)).sum())} NaN value(s)"
        )
    return df


def full_data_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The full-data runs, once each: a sweep repeats the shared full-data run under every method,
    so rows with fraction 0 are de-duplicated by seed when a ``seed`` column is present."""
    full = df[df["fraction"] == 0]
    return full.drop_duplicates("seed") if "seed" in full.columns else full


def _split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full-data rows, once per seed; pruned rows)."""
    return full_data_rows(df), df[df["fraction"] != 0]


def _require_full(full: pd.DataFrame, what: str) -> None:
    if len(full) == 0:
        raise DataDietError(f"{what} needs full-data rows (fraction == 0) in results, found none")


def _stats(values: pd.Series) -> dict:
    v = values.to_numpy(dtype=float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": len(v),
    }


def _check_titles(title, subtitle) -> None:
    for name, value in (("title", title), ("subtitle", subtitle)):
        if value is not None and not isinstance(value, str):
            raise DataDietError(f"{name} must be a string, got {type(value).__name__}")


def _titles(fig, ax, title: str, subtitle: str | None) -> None:
    """``title`` above the plot; ``subtitle`` (e.g. the sweep's setup: budget and schedule) under it,
    smaller and grey, wrapped to the figure's width (a long setup breaks before "budget:")."""
    import textwrap

    if subtitle:
        chars = max(40, int(fig.get_figwidth() * 72 / (0.55 * 9.5)))  # ~characters per line at 9.5 pt
        parts = []
        for line in subtitle.splitlines():
            if len(line) > chars and ", budget: " in line:  # the setup on two lines: schedule, then budget
                head, _, tail = line.partition(", budget: ")
                parts += [head, f"budget: {tail}"]
            else:
                parts.append(line)
        wrapped = "\n".join(textwrap.fill(part, chars) for part in parts)
        fig.suptitle(title, fontsize=STYLE["axes.titlesize"] + 1, fontweight="bold")
        ax.set_title(wrapped, fontsize=9.5, color="0.25")
    else:
        ax.set_title(title)


# --------------------------------------------------------------------------------------------------
# Accuracy vs fraction pruned (Figure 1)
# --------------------------------------------------------------------------------------------------


def accuracy_vs_fraction(
    results: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None, subtitle: str | None = None
) -> Path:
    """Test accuracy (%) against the fraction of training data pruned (%), one line per method.

    ``title`` replaces the default title; ``subtitle`` (a second, smaller line: say the budget and
    the schedule, e.g. :func:`datadiet.experiments.report.describe_setup`) goes under it.

    Lines are means over seeds; the shaded band is min–max over seeds, or ±1 std when every point
    has at least 3 seeds (the legend says which). The dashed black line is the full-data accuracy
    with a light ±0.3-point band; every method's line starts at that full-data point.
    """
    _check_titles(title, subtitle)
    df = _check_results(results, need=())
    full, pruned = _split(df)
    if len(pruned) == 0:
        raise DataDietError("results has no pruned rows (fraction > 0) to plot")
    full_stats = _stats(full["test_accuracy"]) if len(full) else None
    groups = {key: _stats(g["test_accuracy"]) for key, g in pruned.groupby(["method", "fraction"])}
    min_n = min(s["n"] for s in groups.values())
    use_std = min_n >= 3
    band_text = "±1 std over seeds" if use_std else "min–max over seeds"

    methods = method_order(pruned["method"].unique())
    styles = method_styles(methods)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10.5, 5.4), layout="constrained")
        handles = []
        if full_stats is not None:
            y0 = full_stats["mean"] * 100
            ax.axhspan(y0 - FULL_BAND_POINTS, y0 + FULL_BAND_POINTS, color="black", alpha=0.08, linewidth=0, zorder=0)
            ax.axhline(y0, color="black", linestyle=(0, (5, 3)), linewidth=1.3, zorder=1)
            handles.append(
                Line2D(
                    [],
                    [],
                    color="black",
                    linestyle=(0, (5, 3)),
                    label=f"full data: {y0:.2f}% ({full_stats['n']} run{'s' if full_stats['n'] != 1 else ''})",
                )
            )
            handles.append(Patch(color="black", alpha=0.08, label=f"full data ± {FULL_BAND_POINTS} pt"))
        for m in methods:
            fracs = sorted(f for (mm, f) in groups if mm == m)
            pts = [groups[(m, f)] for f in fracs]
            if full_stats is not None:
                fracs, pts = [0.0, *fracs], [full_stats, *pts]
            x = np.array(fracs) * 100
            mean = np.array([p["mean"] for p in pts]) * 100
            if use_std:
                lo = mean - np.array([p["std"] for p in pts]) * 100
                hi = mean + np.array([p["std"] for p in pts]) * 100
            else:
                lo = np.array([p["min"] for p in pts]) * 100
                hi = np.array([p["max"] for p in pts]) * 100
            st = styles[m]
            (line,) = ax.plot(
                x,
                mean,
                color=st["color"],
                linestyle=st["linestyle"],
                marker=st["marker"],
                markersize=6,
                linewidth=2,
                label=m,
                zorder=3,
            )
            ax.fill_between(x, lo, hi, color=st["color"], alpha=0.15, linewidth=0, zorder=2)
            handles.append(line)
        max_n = max(s["n"] for s in groups.values())
        n_text = f"{min_n}" if min_n == max_n else f"{min_n}–{max_n}"
        handles.append(
            Patch(
                color="0.5",
                alpha=0.3,
                label=f"shaded: {band_text} ({n_text} seeds)" if max_n > 1 else "single seed: no band",
            )
        )

        all_fracs = sorted(set(df["fraction"]) | ({0.0} if full_stats is not None else set()))
        ax.set_xticks([f * 100 for f in all_fracs])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        span = max(all_fracs) * 100 - min(all_fracs) * 100 or 10
        ax.set_xlim(min(all_fracs) * 100 - 0.04 * span, max(all_fracs) * 100 + 0.04 * span)
        ax.set_xlabel("fraction of training data pruned (%)")
        ax.set_ylabel("test accuracy (%)")
        _titles(fig, ax, title or "Test accuracy vs fraction of training data pruned", subtitle)
        ax.grid(alpha=0.3, linewidth=0.5)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)
        return save_figure(fig, path)


# --------------------------------------------------------------------------------------------------
# Per-class change at one fraction
# --------------------------------------------------------------------------------------------------


def _class_columns(df: pd.DataFrame) -> list[str]:
    cols = [c for c in map(str, df.columns) if _CLASS_COLUMN.match(c)]
    if not cols:
        raise DataDietError(f"results has no class_<k>_accuracy columns; it has {list(df.columns)}")
    return sorted(cols, key=lambda c: int(_CLASS_COLUMN.match(c).group(1)))


def per_class_change(
    results: pd.DataFrame,
    class_names: Sequence[str],
    path: str | os.PathLike,
    *,
    fraction: float,
    title: str | None = None,
    subtitle: str | None = None,
) -> Path:
    """Grouped bars: per-class accuracy at ``fraction`` pruned minus full-data class accuracy (points).

    One group per class, one bar per method (mean over seeds; whiskers = min–max over seeds when
    there are several). Raises :class:`DataDietError` listing the available fractions if
    ``fraction`` was not run, or if there are no full-data rows. ``title`` replaces the default
    title; ``subtitle`` goes under it (say the budget and the schedule).
    """
    _check_titles(title, subtitle)
    df = _check_results(results, need=())
    cols = _class_columns(df)
    ks = [int(_CLASS_COLUMN.match(c).group(1)) for c in cols]
    if class_names is None or isinstance(class_names, str):
        raise DataDietError(f"class_names must be a sequence of names, got {class_names!r}")
    names = [str(c) for c in class_names]
    if max(ks) >= len(names):
        raise DataDietError(
            f"class_names has {len(names)} names but results has columns up to class_{max(ks)}_accuracy"
        )
    full, pruned = _split(df)
    available = sorted(pruned["fraction"].unique())
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise DataDietError(f"fraction must be a number, got {fraction!r}") from None
    match = [a for a in available if np.isclose(a, f, rtol=0, atol=1e-6)]
    if not match:
        raise DataDietError(
            f"fraction {fraction!r} is not in results; available fractions: {', '.join(f'{a:g}' for a in available) or 'none'}"
        )
    f = match[0]
    _require_full(full, "per_class_change")
    full_class = full[cols].astype(float).mean().to_numpy()
    full_acc = float(full["test_accuracy"].mean())
    at = pruned[pruned["fraction"] == f]
    methods = method_order(at["method"].unique())
    styles = method_styles(methods)

    k, m = len(cols), len(methods)
    horizontal = k > 20
    width = 0.8 / m
    with plt.rc_context(STYLE):
        if horizontal:
            fig, ax = plt.subplots(figsize=(8.5, max(4.0, 0.11 * k * m + 1.8)), layout="constrained")
        else:
            fig, ax = plt.subplots(figsize=(min(22.0, max(8.0, 0.17 * k * m + 3.0)), 5.6), layout="constrained")
        pos = np.arange(k)
        for j, meth in enumerate(methods):
            rows = at[at["method"] == meth]
            delta = (rows[cols].astype(float).to_numpy() - full_class) * 100  # (seeds, K)
            mean = np.nanmean(delta, axis=0)
            overall = (float(rows["test_accuracy"].mean()) - full_acc) * 100
            offset = pos + (j - (m - 1) / 2) * width
            err = None
            if len(rows) > 1:
                # clipped: with equal values the mean can sit an ulp outside min–max
                err = np.clip(np.vstack([mean - np.nanmin(delta, axis=0), np.nanmax(delta, axis=0) - mean]), 0, None)
            st = styles[meth]
            label = f"{meth} (overall {overall:+.2f} pt, {len(rows)} seed{'s' if len(rows) != 1 else ''})"
            kw = dict(
                color=st["color"],
                alpha=0.9,
                label=label,
                edgecolor="white",
                linewidth=0.5,
                error_kw={"elinewidth": 0.8, "ecolor": "0.2", "capsize": 0},
            )
            if st["linestyle"] == "--":  # random: hatched so it reads without colour too
                kw["hatch"] = "//"
            if horizontal:
                ax.barh(offset, mean, height=width, xerr=err, **kw)
            else:
                ax.bar(offset, mean, width=width, yerr=err, **kw)
        label_text = "change in class accuracy vs full data (percentage points)"
        if horizontal:
            ax.axvline(0, color="black", linewidth=1)
            ax.set_yticks(pos, [names[i] for i in ks])
            ax.set_ylim(k - 0.4, -0.6)  # first class on top, no empty margin
            ax.set_xlabel(label_text)
            ax.grid(axis="x", alpha=0.3, linewidth=0.5)
        else:
            ax.axhline(0, color="black", linewidth=1)
            long_names = max(len(names[i]) for i in ks) > 6 and k > 6
            ax.set_xticks(
                pos, [names[i] for i in ks], rotation=35 if long_names else 0, ha="right" if long_names else "center"
            )
            ax.set_ylabel("Δ class accuracy vs full data\n(percentage points)")
            ax.set_xlabel("class")
            ax.grid(axis="y", alpha=0.3, linewidth=0.5)
            ax.set_xlim(-0.6, k - 0.4)
        what = (
            f"relative to full data, {full_acc * 100:.2f}% overall ({len(full)} run{'s' if len(full) != 1 else ''}); "
            f"bars = mean over seeds{', whiskers = min–max' if len(at) > m else ''}"
        )
        default = f"Per-class accuracy change with {_pct(f)} of training data pruned"
        if subtitle:
            _titles(fig, ax, title or default, f"{subtitle}\n{what}")
        else:
            ax.set_title(f"{title or default}\n({what})")
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", frameon=False, ncols=min(m, 3))
        return save_figure(fig, path)


# --------------------------------------------------------------------------------------------------
# Compute dividend
# --------------------------------------------------------------------------------------------------


def compute_dividend(
    results: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None, subtitle: str | None = None
) -> Path:
    """Test accuracy (%) against total compute relative to full-data training.

    x = (scoring_examples + train_examples), mean over seeds, divided by the full-data run's
    ``train_examples`` (so the full-data run sits at 1.0, drawn as a star). One line per method
    through its fractions, each point labelled with the fraction pruned; points left of the dotted
    line at 1.0 cost less than training on everything. ``title`` replaces the default title;
    ``subtitle`` goes under it (say the budget and the schedule).
    """
    _check_titles(title, subtitle)
    df = _check_results(results, need=("scoring_examples", "train_examples"))
    full, pruned = _split(df)
    _require_full(full, "compute_dividend")
    if len(pruned) == 0:
        raise DataDietError("results has no pruned rows (fraction > 0) to plot")
    full_train = float(pd.to_numeric(full["train_examples"], errors="coerce").mean())
    if not np.isfinite(full_train) or full_train <= 0:
        raise DataDietError(f"full-data train_examples must be a positive number, got {full_train}")
    full_acc = float(full["test_accuracy"].mean()) * 100
    pruned = pruned.copy()
    scoring = pd.to_numeric(pruned["scoring_examples"], errors="coerce").fillna(0.0)
    train = pd.to_numeric(pruned["train_examples"], errors="coerce")
    if train.isna().any():
        raise DataDietError(f"results['train_examples'] must be numbers, got {int(train.isna().sum())} missing")
    pruned["compute"] = (scoring + train) / full_train
    agg = (
        pruned.groupby(["method", "fraction"])
        .agg(compute=("compute", "mean"), acc=("test_accuracy", "mean"))
        .reset_index()
    )
    methods = method_order(agg["method"].unique())
    styles = method_styles(methods)

    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10.5, 5.6), layout="constrained")
        ax.axvline(1.0, color="black", linestyle=":", linewidth=1.3, zorder=1)
        handles = [
            Line2D(
                [],
                [],
                color="black",
                marker="*",
                markersize=14,
                linestyle="none",
                label=f"full data: {full_acc:.2f}% ({len(full)} run{'s' if len(full) != 1 else ''})",
            )
        ]
        points = []  # (x, y, text, colour) to label once the layout is fixed
        for m in methods:
            g = agg[agg["method"] == m].sort_values("fraction")
            x, y = g["compute"].to_numpy(), g["acc"].to_numpy() * 100
            st = styles[m]
            ax.plot(
                x,
                y,
                color=st["color"],
                linestyle=st["linestyle"],
                linewidth=1.8,
                marker=st["marker"],
                markersize=7,
                markeredgecolor="white",
                markeredgewidth=0.6,
                zorder=3,
            )
            handles.append(
                Line2D(
                    [], [], color=st["color"], linestyle=st["linestyle"], marker=st["marker"], linewidth=1.8, label=m
                )
            )
            points += [(xi, yi, _pct(fr), st["color"]) for xi, yi, fr in zip(x, y, g["fraction"])]
        ax.scatter([1.0], [full_acc], marker="*", s=280, color="black", zorder=5)
        handles.append(Line2D([], [], color="black", linestyle=":", label="full-data training cost (1×)"))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.margins(x=0.1, y=0.12)
        ax.set_xlabel("total compute: examples processed (scoring + training), relative to full-data training")
        ax.set_ylabel("test accuracy (%)")
        _titles(fig, ax, title or "Compute dividend: accuracy against total compute", subtitle)
        ax.grid(alpha=0.3, linewidth=0.5)
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            borderaxespad=0.0,
            alignment="left",
            title="point labels: % of data pruned\nleft of the dotted line:\ncheaper than full training",
            title_fontproperties={"size": 8.5},
        )
        _label_points(fig, ax, points + [(1.0, full_acc, None, None)])
        return save_figure(fig, path)


_LABEL_OFFSETS = [
    (6, 5),
    (6, -13),
    (-8, 5),
    (-8, -13),
    (0, 9),
    (0, -17),
    (12, -4),
    (-14, -4),
    (14, 12),
    (14, -20),
    (-18, 12),
    (-18, -20),
]


_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]


def _label_points(fig, ax, points) -> None:
    """Label points without labels overlapping each other or any marker (greedy, first fit).

    The layout is computed once and then frozen, so the pixel positions used for the overlap test
    are the ones that get saved. A point whose label fits nowhere gets it at the first offset.
    """
    fig.canvas.draw()
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    scale = fig.dpi / 72.0
    taken = []
    for x, y, _, _ in points:  # every marker is an obstacle
        px, py = to_px((x, y))
        r = 6 * scale
        taken.append((px - r, py - r, px + r, py + r))
    axes_box = ax.get_window_extent(renderer)

    def free(b) -> bool:
        inside = b.x0 >= axes_box.x0 and b.x1 <= axes_box.x1 and b.y0 >= axes_box.y0 and b.y1 <= axes_box.y1
        return inside and all(b.x1 < t[0] or b.x0 > t[2] or b.y1 < t[1] or b.y0 > t[3] for t in taken)

    for x, y, text, colour in points:
        if text is None:
            continue
        ann = None
        for dx, dy in _LABEL_OFFSETS:
            if ann is not None:
                ann.remove()
            ann = ax.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy),
                ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
                fontsize=8,
                color=colour,
                fontweight="bold",
                zorder=6,
                path_effects=_HALO,
            )
            box = ann.get_window_extent(renderer)
            if free(box):
                break
        else:
            ann.remove()
            dx, dy = _LABEL_OFFSETS[0]
            ann = ax.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy),
                ha="left",
                fontsize=8,
                color=colour,
                fontweight="bold",
                zorder=6,
                path_effects=_HALO,
            )
            box = ann.get_window_extent(renderer)
        taken.append((box.x0 - 1, box.y0 - 1, box.x1 + 1, box.y1 + 1))


# --------------------------------------------------------------------------------------------------
# Accuracy vs total FLOPs, with the Pareto front
# --------------------------------------------------------------------------------------------------

#: Dynamic pruning methods: no scoring pass, the saving is realised inside training, and their
#: ``fraction`` is the fraction of training compute saved in expectation (said on figures and reports).
DYNAMIC_METHODS = ("rs2", "infobatch")


def pareto_front(points) -> np.ndarray:
    """Which ``(cost, accuracy)`` points are on the Pareto front (lower cost and higher accuracy are better).

    ``points`` is an ``(n, 2)`` array-like. A point is on the front when no other point has lower
    or equal cost AND higher or equal accuracy while being strictly better in one of them, so equal
    points do not dominate each other (both stay on the front). Points with a NaN coordinate are
    never on the front and dominate nothing. Returns a boolean array of length ``n``.
    """
    p = np.asarray(points, dtype=float)
    if p.size == 0:
        return np.zeros(0, dtype=bool)
    if p.ndim != 2 or p.shape[1] != 2:
        raise DataDietError(f"points must be an (n, 2) array of (cost, accuracy), got shape {p.shape}")
    ok = np.all(np.isfinite(p), axis=1)
    cost, acc = p[:, 0], p[:, 1]
    front = ok.copy()
    for i in np.flatnonzero(ok):
        other = ok & (cost <= cost[i]) & (acc >= acc[i]) & ((cost < cost[i]) | (acc > acc[i]))
        front[i] = not other.any()
    return front


def flops_points(results: pd.DataFrame) -> pd.DataFrame:
    """The points of :func:`accuracy_vs_flops`: one row per (method, fraction > 0), plus full data.

    Columns ``method`` (``"full"`` for the full-data point), ``fraction``, ``flops_vs_full`` (mean
    over seeds of total FLOPs, scoring included, relative to one full-data training run; exactly 1
    for full data), ``accuracy`` and ``accuracy_std`` (mean and sample std over seeds, in [0, 1];
    std 0 for one seed), ``n`` (seeds) and ``pareto`` (:func:`pareto_front` over all these points,
    full data included). Pruned rows without a finite ``flops_vs_full`` (older tables) are left
    out; full-data rows (fraction 0, once per seed) are required.
    """
    df = _check_results(results, need=("flops_vs_full",))
    full, pruned = _split(df)
    _require_full(full, "flops_points")
    flops = pd.to_numeric(pruned["flops_vs_full"], errors="coerce")
    pruned = pruned.assign(flops_vs_full=flops)[np.isfinite(flops.to_numpy(dtype=float))]
    rows = []
    s = _stats(full["test_accuracy"])
    rows.append(
        {
            "method": FULL_METHOD,
            "fraction": 0.0,
            "flops_vs_full": 1.0,
            "accuracy": s["mean"],
            "accuracy_std": s["std"],
            "n": s["n"],
        }
    )
    order = {m: i for i, m in enumerate(method_order(pruned["method"].unique()))}
    for (m, f), g in sorted(pruned.groupby(["method", "fraction"]), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        s = _stats(g["test_accuracy"])
        rows.append(
            {
                "method": m,
                "fraction": float(f),
                "flops_vs_full": float(g["flops_vs_full"].mean()),
                "accuracy": s["mean"],
                "accuracy_std": s["std"],
                "n": s["n"],
            }
        )
    out = pd.DataFrame(rows, columns=["method", "fraction", "flops_vs_full", "accuracy", "accuracy_std", "n"])
    out["pareto"] = pareto_front(out[["flops_vs_full", "accuracy"]].to_numpy())
    return out


def accuracy_vs_flops(
    results: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None, subtitle: str | None = None
) -> Path:
    """Test accuracy (%) against total FLOPs (scoring included) relative to one full-data training run.

    One point per (method, fraction) at the means over seeds (:func:`flops_points`), error bars
    ±1 std over seeds, labelled with the fraction pruned (for the dynamic methods of
    :data:`DYNAMIC_METHODS`: the training compute saved); thin lines join a method's fractions. The
    full-data run is the black star at 1×, on the dashed vertical line, with a grey band for its mean
    ± std over seeds. The Pareto front (no other point is as cheap and as accurate, and better in
    one) is ringed and joined by a black step line: the best accuracy reached for a given budget.
    ``title`` replaces the default title; ``subtitle`` goes under it (say the budget and the schedule).
    """
    _check_titles(title, subtitle)
    pts = flops_points(results)
    full, pruned = pts.iloc[0], pts.iloc[1:]
    if len(pruned) == 0:
        raise DataDietError("results has no pruned rows (fraction > 0) with flops_vs_full to plot")
    y0, s0, n0 = full["accuracy"] * 100, full["accuracy_std"] * 100, int(full["n"])
    methods = method_order(pruned["method"].unique())
    styles = method_styles(methods)
    runs = f"{n0} run{'s' if n0 != 1 else ''}"

    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10.5, 5.6), layout="constrained")
        ax.axvline(1.0, color="black", linestyle=(0, (5, 3)), linewidth=1.2, zorder=1)
        handles = [
            Line2D(
                [],
                [],
                color="black",
                marker="*",
                markersize=14,
                linestyle="none",
                label=f"full data: {y0:.2f}%" + (f" ± {s0:.2f}" if n0 > 1 else "") + f" ({runs})",
            ),
            Line2D([], [], color="black", linestyle=(0, (5, 3)), linewidth=1.2, label="full-data training cost (1×)"),
        ]
        if n0 > 1 and s0 > 0:
            ax.axhspan(y0 - s0, y0 + s0, color="black", alpha=0.08, linewidth=0, zorder=0)
            handles.append(Patch(color="black", alpha=0.08, label="full data ± 1 std over seeds"))
        points = []  # (x, y, text, colour) to label once the layout is fixed
        for m in methods:
            g = pruned[pruned["method"] == m].sort_values("fraction")
            x, y, err = g["flops_vs_full"].to_numpy(), g["accuracy"].to_numpy() * 100, g["accuracy_std"] * 100
            st = styles[m]
            ax.plot(x, y, color=st["color"], linestyle=st["linestyle"], linewidth=1.1, alpha=0.55, zorder=2)
            ax.errorbar(
                x, y, yerr=err.to_numpy(), fmt="none", ecolor=st["color"], elinewidth=1.0, capsize=2.5, zorder=2
            )
            ax.scatter(x, y, marker=st["marker"], s=55, color=st["color"], edgecolors="white", linewidths=0.6, zorder=3)
            handles.append(
                Line2D(
                    [],
                    [],
                    color=st["color"],
                    linestyle=st["linestyle"],
                    marker=st["marker"],
                    linewidth=1.1,
                    label=m + (" (dynamic)" if _key(m) in DYNAMIC_METHODS else ""),
                )
            )
            points += [(xi, yi, _pct(fr), st["color"]) for xi, yi, fr in zip(x, y, g["fraction"])]
        ax.scatter([1.0], [y0], marker="*", s=280, color="black", zorder=5)
        if n0 > 1:
            ax.errorbar([1.0], [y0], yerr=[s0], fmt="none", ecolor="black", elinewidth=1.0, capsize=2.5, zorder=4)
        front = pts[pts["pareto"]].sort_values(["flops_vs_full", "accuracy"])
        fx, fy = front["flops_vs_full"].to_numpy(), front["accuracy"].to_numpy() * 100
        ax.step(fx, fy, where="post", color="black", linewidth=1.4, alpha=0.7, zorder=2.5)
        ax.scatter(fx, fy, s=240, facecolors="none", edgecolors="black", linewidths=1.4, zorder=4)
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                alpha=0.7,
                linewidth=1.4,
                marker="o",
                markersize=13,
                markerfacecolor="none",
                label=f"Pareto front ({len(front)} point{'s' if len(front) != 1 else ''})",
            )
        )
        handles.append(Line2D([], [], color="0.3", marker="|", linestyle="none", label="error bars: ±1 std over seeds"))
        xs = np.append(pts["flops_vs_full"].to_numpy(dtype=float), 1.0)
        if xs.max() / max(xs.min(), 1e-12) > 12:  # scoring far costlier than the cheapest training: log scale
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.margins(x=0.08, y=0.12)
        ax.set_xlabel("total FLOPs (scoring + training), relative to one full-data training run")
        ax.set_ylabel("test accuracy (%)")
        _titles(fig, ax, title or "Accuracy against total compute (FLOPs), with the Pareto front", subtitle)
        ax.grid(alpha=0.3, linewidth=0.5)
        dynamic = any(_key(m) in DYNAMIC_METHODS for m in methods)
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            borderaxespad=0.0,
            alignment="left",
            title="point labels: % of data pruned"
            + ("\n(dynamic: % of training\ncompute saved)" if dynamic else "")
            + "\nleft of the dashed line:\ncheaper than full training",
            title_fontproperties={"size": 8.5},
        )
        _label_points(fig, ax, points + [(1.0, y0, None, None)])
        return save_figure(fig, path)


# --------------------------------------------------------------------------------------------------
# Accuracy table
# --------------------------------------------------------------------------------------------------


def accuracy_table(results: pd.DataFrame, *, with_std: bool = False) -> pd.DataFrame:
    """Mean test accuracy (%) per method (rows) and fraction pruned (columns), 2 decimals.

    The index is ``method`` (display order, ``full`` excluded), the columns are the fractions pruned
    as floats (``0.0`` included when full-data rows exist; it holds the pooled full-data accuracy for
    every method). Missing (method, fraction) cells are NaN.

    ``with_std=True`` returns the same layout with string cells ``"93.21 ± 0.12"`` (mean ± sample
    standard deviation over seeds, 0.00 for a single seed; empty string where missing), ready for
    ``to_string()`` / ``to_markdown()`` in a README or report.
    """
    df = _check_results(results, need=())
    full, pruned = _split(df)
    methods = method_order(pruned["method"].unique())
    if not methods:
        methods = method_order(m for m in df["method"].unique() if m != FULL_METHOD) or [FULL_METHOD]
    fracs = sorted(float(f) for f in set(df["fraction"]))
    mean = pd.DataFrame(np.nan, index=pd.Index(methods, name="method"), columns=pd.Index(fracs, name="fraction_pruned"))
    std = mean.copy()
    if len(full):
        s = _stats(full["test_accuracy"])
        mean[0.0], std[0.0] = s["mean"] * 100, s["std"] * 100
    for (m, f), g in pruned.groupby(["method", "fraction"]):
        if m in mean.index:
            s = _stats(g["test_accuracy"])
            mean.loc[m, float(f)], std.loc[m, float(f)] = s["mean"] * 100, s["std"] * 100
    mean, std = mean.round(2), std.round(2)
    if not with_std:
        return mean
    text = pd.DataFrame("", index=mean.index, columns=mean.columns, dtype=object)
    for m in mean.index:
        for f in mean.columns:
            if pd.notna(mean.loc[m, f]):
                text.loc[m, f] = f"{mean.loc[m, f]:.2f} ± {std.loc[m, f]:.2f}"
    return text

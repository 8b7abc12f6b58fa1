"""Figures of a pruning sweep (the "Deep Learning on a Data Diet" Figure 1 family), drawn from finished tables.

Each figure takes the table :mod:`datadiet.tables` computes for it from a sweep results table (see
:mod:`datadiet.tables.results` for its columns) and computes nothing itself:

* :func:`accuracy_vs_fraction` draws :func:`datadiet.tables.fraction_points`;
* :func:`per_class_change` draws :func:`datadiet.tables.class_changes`;
* :func:`compute_dividend` draws :func:`datadiet.tables.compute_points`;
* :func:`accuracy_vs_flops` draws :func:`datadiet.tables.flops_points`.

``accuracy_vs_fraction(fraction_points(results), "acc.png", subtitle=describe_setup(summary, results))``.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path, PurePath

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from datadiet.errors import DataDietError
from datadiet.plots.diagnostics import STYLE, save_figure
from datadiet.tables import is_dynamic, method_key, method_order

#: Fixed colour / line style / marker per method, in :data:`datadiet.tables.METHOD_ORDER` (tab10, so
#: colour-blind-friendly and stable across figures). Unknown methods get the remaining colours in
#: sorted-name order.
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
FULL_BAND_POINTS = 0.3  # ± percentage points drawn around the full-data line


def method_styles(methods) -> dict[str, dict]:
    """Colour, line style and marker for each method (fixed for known names)."""
    out, extra = {}, 0
    for m in method_order(methods):
        k = method_key(m)
        base = k.partition("@")[0]
        if k in METHOD_STYLES:
            out[m] = dict(METHOD_STYLES[k])
        elif base in METHOD_STYLES:  # "grand@0": GraNd scored at another epoch: its colour, lighter, dotted
            rgb = np.array(mcolors.to_rgb(METHOD_STYLES[base]["color"]))
            out[m] = {**METHOD_STYLES[base], "linestyle": ":", "color": mcolors.to_hex(0.55 * rgb + 0.45)}
        else:
            out[m] = dict(_EXTRA_STYLES[extra % len(_EXTRA_STYLES)])
            extra += 1
    return out


LEGEND_LABEL_CHARS = 32  # a longer method name is shortened in legends, so it cannot squeeze the plot
_TABLE_PREFIX = "table:"  # a method scored by a user's score table: "table:PATH"


def _ellipsis(text: str, width: int = LEGEND_LABEL_CHARS) -> str:
    if len(text) <= width:
        return text
    if text.startswith(_TABLE_PREFIX):  # keep the end of a path: its file name
        return _TABLE_PREFIX + "…" + text[-(width - len(_TABLE_PREFIX) - 1) :]
    return text[: width // 2] + "…" + text[-(width - width // 2 - 1) :]


def method_labels(methods) -> dict[str, str]:
    """The legend label of each method: its name, but a ``table:PATH`` method by its file name (with as
    many parent folders as tell two tables apart), and any label past :data:`LEGEND_LABEL_CHARS`
    characters ellipsised, so that a long path cannot squeeze the plot."""
    methods = list(dict.fromkeys(str(m) for m in methods))
    paths = {m: PurePath(m[len(_TABLE_PREFIX) :]).parts for m in methods if m.startswith(_TABLE_PREFIX)}
    out = {}
    for m in methods:
        parts = paths.get(m)
        if not parts:
            out[m] = _ellipsis(m)
            continue
        k = 1
        while k < len(parts) and sum(q[-k:] == parts[-k:] for q in paths.values()) > 1:
            k += 1
        tail = "/".join(parts[-k:]).replace("//", "/")
        out[m] = _ellipsis(_TABLE_PREFIX + (tail if k == len(parts) else "…/" + tail))
    return out


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _check_table(table, columns: Sequence[str], maker: str) -> pd.DataFrame:
    """``table`` must be a DataFrame with ``columns`` (the output of :func:`datadiet.tables.<maker>`)."""
    if not isinstance(table, pd.DataFrame):
        raise DataDietError(f"expected the table of datadiet.tables.{maker}, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataDietError(
            f"expected the table of datadiet.tables.{maker}: missing column(s) {missing}; it has {list(table.columns)}"
        )
    return table


def _check_titles(title, subtitle) -> None:
    for name, value in (("title", title), ("subtitle", subtitle)):
        if value is not None and not isinstance(value, str):
            raise DataDietError(f"{name} must be a string, got {type(value).__name__}")


def _titles(fig, ax, title: str, subtitle: str | None) -> None:
    """``title`` above the plot; ``subtitle`` (e.g. the sweep's setup: budget and schedule) under it,
    smaller and grey, wrapped to the figure's width (a long setup breaks before "budget:")."""
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


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


# --------------------------------------------------------------------------------------------------
# Accuracy vs fraction pruned (Figure 1)
# --------------------------------------------------------------------------------------------------

FRACTION_POINT_COLUMNS = ("method", "fraction", "accuracy", "accuracy_std", "accuracy_min", "accuracy_max", "n")


def _fraction_lines(ax, full, pruned: pd.DataFrame, use_std: bool) -> list:
    """One line per method through its points (from the full-data point when there is one), with its band."""
    handles = []
    methods = list(dict.fromkeys(pruned["method"]))
    styles, labels = method_styles(methods), method_labels(methods)
    for m in methods:
        g = pruned[pruned["method"] == m]
        pts = [full, *(r for _, r in g.iterrows())] if full is not None else [r for _, r in g.iterrows()]
        x = np.array([p["fraction"] for p in pts]) * 100
        mean = np.array([p["accuracy"] for p in pts]) * 100
        if use_std:
            lo = mean - np.array([p["accuracy_std"] for p in pts]) * 100
            hi = mean + np.array([p["accuracy_std"] for p in pts]) * 100
        else:
            lo = np.array([p["accuracy_min"] for p in pts]) * 100
            hi = np.array([p["accuracy_max"] for p in pts]) * 100
        st = styles[m]
        (line,) = ax.plot(
            x,
            mean,
            color=st["color"],
            linestyle=st["linestyle"],
            marker=st["marker"],
            markersize=6,
            linewidth=2,
            label=labels[m],
            zorder=3,
        )
        ax.fill_between(x, lo, hi, color=st["color"], alpha=0.15, linewidth=0, zorder=2)
        handles.append(line)
    return handles


def _full_line(ax, full) -> list:
    """The full-data accuracy as a dashed line with a light ± band (legend handles)."""
    y0 = full["accuracy"] * 100
    ax.axhspan(y0 - FULL_BAND_POINTS, y0 + FULL_BAND_POINTS, color="black", alpha=0.08, linewidth=0, zorder=0)
    ax.axhline(y0, color="black", linestyle=(0, (5, 3)), linewidth=1.3, zorder=1)
    return [
        Line2D([], [], color="black", linestyle=(0, (5, 3)), label=f"full data: {y0:.2f}% ({_runs(full['n'])})"),
        Patch(color="black", alpha=0.08, label=f"full data ± {FULL_BAND_POINTS} pt"),
    ]


def accuracy_vs_fraction(
    points: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None, subtitle: str | None = None
) -> Path:
    """Test accuracy (%) against the fraction of training data pruned (%), one line per method, from
    :func:`datadiet.tables.fraction_points`.

    ``title`` replaces the default title; ``subtitle`` (a second, smaller line: say the budget and
    the schedule, e.g. :func:`datadiet.reports.describe_setup`) goes under it.

    Lines are means over seeds; the shaded band is min–max over seeds, or ±1 std when every point
    has at least 3 seeds (the legend says which). The dashed black line is the full-data accuracy
    with a light ±0.3-point band; every method's line starts at that full-data point.
    """
    _check_titles(title, subtitle)
    _check_table(points, FRACTION_POINT_COLUMNS, "fraction_points")
    pruned = points[points["fraction"] != 0]
    if len(pruned) == 0:
        raise DataDietError("results has no pruned rows (fraction > 0) to plot")
    full_rows = points[points["fraction"] == 0]
    full = full_rows.iloc[0] if len(full_rows) else None
    min_n, max_n = pruned["n"].min(), pruned["n"].max()
    use_std = min_n >= 3
    band_text = "±1 std over seeds" if use_std else "min–max over seeds"
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10.5, 5.4), layout="constrained")
        handles = _full_line(ax, full) if full is not None else []
        handles += _fraction_lines(ax, full, pruned, use_std)
        n_text = f"{min_n}" if min_n == max_n else f"{min_n}–{max_n}"
        handles.append(
            Patch(
                color="0.5",
                alpha=0.3,
                label=f"shaded: {band_text} ({n_text} seeds)" if max_n > 1 else "single seed: no band",
            )
        )
        all_fracs = sorted(set(points["fraction"]))
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

CLASS_CHANGE_COLUMNS = ("method", "fraction", "class", "change", "change_min", "change_max", "seeds")
CLASS_CHANGE_COLUMNS += ("overall_change", "full_accuracy", "full_runs")


def _class_bars(ax, changes: pd.DataFrame, methods: list[str], horizontal: bool) -> None:
    """One bar per method in each class's group, whiskers min–max over seeds when there are several."""
    styles, names = method_styles(methods), method_labels(methods)
    k, m = changes["class"].nunique(), len(methods)
    width = 0.8 / m
    pos = np.arange(k)
    for j, meth in enumerate(methods):
        rows = changes[changes["method"] == meth]
        mean = rows["change"].to_numpy()
        seeds, overall = int(rows["seeds"].iloc[0]), rows["overall_change"].iloc[0]
        offset = pos + (j - (m - 1) / 2) * width
        err = None
        if seeds > 1:
            # clipped: with equal values the mean can sit an ulp outside min–max
            lo, hi = rows["change_min"].to_numpy(), rows["change_max"].to_numpy()
            err = np.clip(np.vstack([mean - lo, hi - mean]), 0, None)
        st = styles[meth]
        label = f"{names[meth]} (overall {overall:+.2f} pt, {seeds} seed{'s' if seeds != 1 else ''})"
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


def _class_axis(ax, labels: list[str], horizontal: bool) -> None:
    k = len(labels)
    pos = np.arange(k)
    label_text = "change in class accuracy vs full data (percentage points)"
    if horizontal:
        ax.axvline(0, color="black", linewidth=1)
        ax.set_yticks(pos, labels)
        ax.set_ylim(k - 0.4, -0.6)  # first class on top, no empty margin
        ax.set_xlabel(label_text)
        ax.grid(axis="x", alpha=0.3, linewidth=0.5)
    else:
        ax.axhline(0, color="black", linewidth=1)
        long_names = max(len(name) for name in labels) > 6 and k > 6
        ax.set_xticks(pos, labels, rotation=35 if long_names else 0, ha="right" if long_names else "center")
        ax.set_ylabel("Δ class accuracy vs full data\n(percentage points)")
        ax.set_xlabel("class")
        ax.grid(axis="y", alpha=0.3, linewidth=0.5)
        ax.set_xlim(-0.6, k - 0.4)


def _class_labels(changes: pd.DataFrame, class_names) -> list[str]:
    if class_names is None or isinstance(class_names, str):
        raise DataDietError(f"class_names must be a sequence of names, got {class_names!r}")
    names = [str(c) for c in class_names]
    ks = [int(k) for k in dict.fromkeys(changes["class"])]
    if max(ks) >= len(names):
        raise DataDietError(
            f"class_names has {len(names)} names but results has columns up to class_{max(ks)}_accuracy"
        )
    return [names[i] for i in ks]


def per_class_change(
    changes: pd.DataFrame,
    class_names: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    subtitle: str | None = None,
) -> Path:
    """Grouped bars: per-class accuracy at one fraction pruned minus full-data class accuracy (points),
    from :func:`datadiet.tables.class_changes` (which picks the fraction).

    One group per class, one bar per method (mean over seeds; whiskers = min–max over seeds when
    there are several). ``title`` replaces the default title; ``subtitle`` goes under it (say the
    budget and the schedule).
    """
    _check_titles(title, subtitle)
    _check_table(changes, CLASS_CHANGE_COLUMNS, "class_changes")
    if len(changes) == 0:
        raise DataDietError("class_changes table is empty: no method was run at that fraction")
    labels = _class_labels(changes, class_names)
    methods = list(dict.fromkeys(changes["method"]))
    first = changes.iloc[0]
    f, full_acc, full_runs = first["fraction"], first["full_accuracy"], int(first["full_runs"])
    k, m = len(labels), len(methods)
    whiskers = changes.drop_duplicates("method")["seeds"].sum() > m
    horizontal = k > 20
    with plt.rc_context(STYLE):
        if horizontal:
            fig, ax = plt.subplots(figsize=(8.5, max(4.0, 0.11 * k * m + 1.8)), layout="constrained")
        else:
            fig, ax = plt.subplots(figsize=(min(22.0, max(8.0, 0.17 * k * m + 3.0)), 5.6), layout="constrained")
        _class_bars(ax, changes, methods, horizontal)
        _class_axis(ax, labels, horizontal)
        what = (
            f"relative to full data, {full_acc * 100:.2f}% overall ({_runs(full_runs)}); "
            f"bars = mean over seeds{', whiskers = min–max' if whiskers else ''}"
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

COMPUTE_POINT_COLUMNS = ("method", "fraction", "compute", "accuracy", "n")


def _legend_right(ax, handles: list, title: str) -> None:
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        borderaxespad=0.0,
        alignment="left",
        title=title,
        title_fontproperties={"size": 8.5},
    )


def _full_star(full_acc: float, runs: str) -> Line2D:
    return Line2D(
        [], [], color="black", marker="*", markersize=14, linestyle="none", label=f"full data: {full_acc:.2f}%{runs}"
    )


def compute_dividend(
    points: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None, subtitle: str | None = None
) -> Path:
    """Test accuracy (%) against total compute relative to full-data training, from
    :func:`datadiet.tables.compute_points`.

    x = (scoring_examples + train_examples), mean over seeds, divided by the full-data run's
    ``train_examples`` (so the full-data run sits at 1.0, drawn as a star). One line per method
    through its fractions, each point labelled with the fraction pruned; points left of the dotted
    line at 1.0 cost less than training on everything. ``title`` replaces the default title;
    ``subtitle`` goes under it (say the budget and the schedule).
    """
    _check_titles(title, subtitle)
    _check_table(points, COMPUTE_POINT_COLUMNS, "compute_points")
    full, pruned = points.iloc[0], points.iloc[1:]
    if len(pruned) == 0:
        raise DataDietError("results has no pruned rows (fraction > 0) to plot")
    full_acc = full["accuracy"] * 100
    methods = list(dict.fromkeys(pruned["method"]))
    styles, names = method_styles(methods), method_labels(methods)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10.5, 5.6), layout="constrained")
        ax.axvline(1.0, color="black", linestyle=":", linewidth=1.3, zorder=1)
        handles = [_full_star(full_acc, f" ({_runs(int(full['n']))})")]
        labels = []  # (x, y, text, colour) to label once the layout is fixed
        for m in methods:
            g = pruned[pruned["method"] == m]
            x, y = g["compute"].to_numpy(), g["accuracy"].to_numpy() * 100
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
                    [],
                    [],
                    color=st["color"],
                    linestyle=st["linestyle"],
                    marker=st["marker"],
                    linewidth=1.8,
                    label=names[m],
                )
            )
            labels += [(xi, yi, _pct(fr), st["color"]) for xi, yi, fr in zip(x, y, g["fraction"])]
        ax.scatter([1.0], [full_acc], marker="*", s=280, color="black", zorder=5)
        handles.append(Line2D([], [], color="black", linestyle=":", label="full-data training cost (1×)"))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.margins(x=0.1, y=0.12)
        ax.set_xlabel("total compute: examples processed (scoring + training), relative to full-data training")
        ax.set_ylabel("test accuracy (%)")
        _titles(fig, ax, title or "Compute dividend: accuracy against total compute", subtitle)
        ax.grid(alpha=0.3, linewidth=0.5)
        _legend_right(
            ax, handles, "point labels: % of data pruned\nleft of the dotted line:\ncheaper than full training"
        )
        _label_points(fig, ax, labels + [(1.0, full_acc, None, None)])
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

FLOPS_POINT_COLUMNS = ("method", "fraction", "flops_vs_full", "accuracy", "accuracy_std", "n", "pareto")


def _flops_methods(ax, pruned: pd.DataFrame) -> tuple[list, list]:
    """Each method's points with error bars (where a point has several seeds), joined by a thin line:
    (legend handles, points to label)."""
    methods = list(dict.fromkeys(pruned["method"]))
    styles, names = method_styles(methods), method_labels(methods)
    handles, labels = [], []
    for m in methods:
        g = pruned[pruned["method"] == m].sort_values("fraction")
        x, y, err = g["flops_vs_full"].to_numpy(), g["accuracy"].to_numpy() * 100, g["accuracy_std"] * 100
        st = styles[m]
        ax.plot(x, y, color=st["color"], linestyle=st["linestyle"], linewidth=1.1, alpha=0.55, zorder=2)
        spread = g["n"].to_numpy() > 1  # one seed has no spread: no error bar
        if spread.any():
            ax.errorbar(
                x[spread],
                y[spread],
                yerr=err.to_numpy()[spread],
                fmt="none",
                ecolor=st["color"],
                elinewidth=1.0,
                capsize=2.5,
                zorder=2,
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
                label=names[m] + (" (dynamic)" if is_dynamic(m) else ""),
            )
        )
        labels += [(xi, yi, _pct(fr), st["color"]) for xi, yi, fr in zip(x, y, g["fraction"])]
    return handles, labels


def _pareto_step(ax, points: pd.DataFrame) -> Line2D:
    """The front ringed and joined by a black step line (its legend handle)."""
    front = points[points["pareto"]].sort_values(["flops_vs_full", "accuracy"])
    fx, fy = front["flops_vs_full"].to_numpy(), front["accuracy"].to_numpy() * 100
    ax.step(fx, fy, where="post", color="black", linewidth=1.4, alpha=0.7, zorder=2.5)
    ax.scatter(fx, fy, s=240, facecolors="none", edgecolors="black", linewidths=1.4, zorder=4)
    return Line2D(
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


def _error_bar_text(n: pd.Series) -> str:
    """What the error bars are, for points over ``n`` seeds: none with one seed (no spread to show)."""
    if n.max() <= 1:
        return "one seed: no error bars"
    return "error bars: ±1 std over seeds" + (" (none on 1-seed points)" if n.min() <= 1 else "")


def accuracy_vs_flops(
    points: pd.DataFrame, path: str | os.PathLike, *, title: str | None = None, subtitle: str | None = None
) -> Path:
    """Test accuracy (%) against total FLOPs (scoring included) relative to one full-data training run,
    from :func:`datadiet.tables.flops_points`.

    One point per (method, fraction) at the means over seeds, error bars ±1 std over seeds (none
    for a point with one seed, and the legend says so), labelled with the fraction pruned (for dynamic methods, :func:`datadiet.tables.is_dynamic`: the
    training compute saved); thin lines join a method's fractions. The full-data run is the black
    star at 1×, on the dashed vertical line, with a grey band for its mean ± std over seeds. The
    Pareto front (no other point is as cheap and as accurate, and better in one) is ringed and
    joined by a black step line: the best accuracy reached for a given budget. ``title`` replaces
    the default title; ``subtitle`` goes under it (say the budget and the schedule).
    """
    _check_titles(title, subtitle)
    _check_table(points, FLOPS_POINT_COLUMNS, "flops_points")
    full, pruned = points.iloc[0], points.iloc[1:]
    if len(pruned) == 0:
        raise DataDietError("results has no pruned rows (fraction > 0) with flops_vs_full to plot")
    y0, s0, n0 = full["accuracy"] * 100, full["accuracy_std"] * 100, int(full["n"])
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10.5, 5.6), layout="constrained")
        ax.axvline(1.0, color="black", linestyle=(0, (5, 3)), linewidth=1.2, zorder=1)
        handles = [
            _full_star(y0, (f" ± {s0:.2f}" if n0 > 1 else "") + f" ({_runs(n0)})"),
            Line2D([], [], color="black", linestyle=(0, (5, 3)), linewidth=1.2, label="full-data training cost (1×)"),
        ]
        if n0 > 1 and s0 > 0:
            ax.axhspan(y0 - s0, y0 + s0, color="black", alpha=0.08, linewidth=0, zorder=0)
            handles.append(Patch(color="black", alpha=0.08, label="full data ± 1 std over seeds"))
        method_handles, labels = _flops_methods(ax, pruned)
        handles += method_handles
        ax.scatter([1.0], [y0], marker="*", s=280, color="black", zorder=5)
        if n0 > 1:
            ax.errorbar([1.0], [y0], yerr=[s0], fmt="none", ecolor="black", elinewidth=1.0, capsize=2.5, zorder=4)
        handles.append(_pareto_step(ax, points))
        handles.append(Line2D([], [], color="0.3", marker="|", linestyle="none", label=_error_bar_text(points["n"])))
        xs = np.append(points["flops_vs_full"].to_numpy(dtype=float), 1.0)
        if xs.max() / max(xs.min(), 1e-12) > 12:  # scoring far costlier than the cheapest training: log scale
            ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.margins(x=0.08, y=0.12)
        ax.set_xlabel("total FLOPs (scoring + training), relative to one full-data training run")
        ax.set_ylabel("test accuracy (%)")
        _titles(fig, ax, title or "Accuracy against total compute (FLOPs), with the Pareto front", subtitle)
        ax.grid(alpha=0.3, linewidth=0.5)
        dynamic = any(is_dynamic(m) for m in pruned["method"])
        _legend_right(
            ax,
            handles,
            "point labels: % of data pruned"
            + ("\n(dynamic: % of training\ncompute saved)" if dynamic else "")
            + "\nleft of the dashed line:\ncheaper than full training",
        )
        _label_points(fig, ax, labels + [(1.0, y0, None, None)])
        return save_figure(fig, path)

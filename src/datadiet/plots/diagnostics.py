"""Diagnostics for one score table: where the scores fall, which examples they pick, what they track.

A *score table* is a :class:`pandas.DataFrame` with one row per training example and columns

* ``index`` (int): the example's stable index in the training set (row ``i`` of the image array);
* ``label`` (int): its (possibly corrupted) training label;
* ``score`` (float): the score averaged over seeds — higher = harder;
* ``score_std`` (float): its standard deviation over seeds;
* ``seed_<s>`` (float): the score from seed ``s``, one column per seed;
* ``noisy`` (bool, optional): the label was corrupted on purpose.

Every figure is a PNG written atomically (rendered in memory, then renamed into place) and closed
afterwards, so a long sweep that draws hundreds of them neither leaks memory nor leaves a
half-written file behind.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from datadiet.errors import DataDietError
from datadiet.runs import atomic_write_bytes
from datadiet.validation import check_positive_int

DPI = 150

#: Matplotlib settings shared by every datadiet figure: readable sizes, no top/right spines.
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": DPI,
}

CLEAN_COLOUR = "#1f77b4"  # tab:blue
NOISY_COLOUR = "#d62728"  # tab:red — also used for the "noisy" border in extreme_examples
MEDIAN_COLOUR = "black"

_SEED_COLUMN = re.compile(r"^seed_(.+)$")


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Render ``fig`` as a PNG in memory, write it atomically to ``path``, and close the figure."""
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
        return atomic_write_bytes(path, buf.getvalue())
    finally:
        plt.close(fig)


def _check_table(table, *, need: Sequence[str] = ("index", "label", "score")) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise DataDietError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise DataDietError(f"table is missing column(s) {missing}; it has {list(table.columns)}")
    if len(table) == 0:
        raise DataDietError("table must have at least one row, got an empty table")
    scores = table["score"].to_numpy(dtype=float)
    if not np.all(np.isfinite(scores)):
        bad = int((~np.isfinite(scores)).sum())
        raise DataDietError(f"table['score'] must be finite, got {bad} NaN/inf value(s)")
    return table


def _noisy_mask(table: pd.DataFrame) -> np.ndarray | None:
    if "noisy" not in table.columns:
        return None
    return table["noisy"].fillna(False).to_numpy(dtype=bool)


def _class_name(class_names: Sequence[str], label: int) -> str:
    if 0 <= label < len(class_names):
        return str(class_names[label])
    return f"class {label}"


def _check_class_names(class_names, labels: np.ndarray) -> list[str]:
    if class_names is None or isinstance(class_names, str):
        raise DataDietError(f"class_names must be a sequence of names, got {class_names!r}")
    names = [str(c) for c in class_names]
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataDietError(
            f"labels must lie in [0, {len(names)}) for {len(names)} class_names, "
            f"got labels in [{labels.min()}, {labels.max()}]"
        )
    return names


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols) if n <= 4 * max_cols else math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


# --------------------------------------------------------------------------------------------------
# Per-class histograms
# --------------------------------------------------------------------------------------------------


def score_histograms(table: pd.DataFrame, class_names: Sequence[str], path: str | os.PathLike, *, method: str) -> Path:
    """One histogram of ``score`` per class on a shared x range, the class median marked.

    If the table has a ``noisy`` column, clean and noisy examples are drawn as two overlaid
    histograms (blue / red) so you can see whether the score pushes mislabelled examples to the
    hard end. Returns the path written.
    """
    table = _check_table(table)
    labels = table["label"].to_numpy(dtype=int)
    names = _check_class_names(class_names, labels)
    scores = table["score"].to_numpy(dtype=float)
    noisy = _noisy_mask(table)
    has_noisy = noisy is not None and bool(noisy.any())

    lo, hi = float(scores.min()), float(scores.max())
    if hi <= lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    bins = np.linspace(lo, hi, 31)
    n_seeds = sum(bool(_SEED_COLUMN.match(str(c))) for c in table.columns)

    k = len(names)
    rows, cols = _grid(k, 5)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            rows, cols, figsize=(2.7 * cols + 0.4, 2.1 * rows + 1.0), sharex=True, squeeze=False, layout="constrained"
        )
        for c in range(rows * cols):
            ax = axes.flat[c]
            if c >= k:
                ax.set_visible(False)
                continue
            in_class = labels == c
            ax.set_title(names[c], fontsize=10)
            if not in_class.any():
                ax.text(0.5, 0.5, "no examples", ha="center", va="center", transform=ax.transAxes, color="0.4")
                ax.set_yticks([])
                continue
            clean = in_class & ~noisy if has_noisy else in_class
            ax.hist(scores[clean], bins=bins, color=CLEAN_COLOUR, alpha=0.75, linewidth=0)
            if has_noisy:
                ax.hist(scores[in_class & noisy], bins=bins, color=NOISY_COLOUR, alpha=0.6, linewidth=0)
            median = float(np.median(scores[in_class]))
            ax.axvline(median, color=MEDIAN_COLOUR, linestyle="--", linewidth=1.2)
            # the class's numbers go in its title, above the bars, where they cannot cover one
            ax.set_title(f"{names[c]}\nmedian {median:.3g}, n = {int(in_class.sum())}", fontsize=9.5)
            ax.set_xlim(lo, hi)
            ax.margins(y=0.08)
            if c % cols == 0:
                ax.set_ylabel("examples")
        # The lowest visible panel of each column gets tick labels and the x label.
        for col in range(min(cols, k)):
            last = (k - 1 - col) // cols
            axes[last, col].set_xlabel(f"{method} score")
            axes[last, col].tick_params(labelbottom=True)

        handles = [Patch(color=CLEAN_COLOUR, alpha=0.75, label="clean labels" if has_noisy else "examples")]
        if has_noisy:
            handles.append(
                Patch(color=NOISY_COLOUR, alpha=0.6, label=f"noisy labels ({int(noisy.sum())} corrupted on purpose)")
            )
        handles.append(Line2D([], [], color=MEDIAN_COLOUR, linestyle="--", label="class median"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        seeds_text = {0: "", 1: ", 1 seed"}.get(n_seeds, f", mean over {n_seeds} seeds")
        fig.suptitle(f"{method} scores per class (higher = harder; n = {len(table)}{seeds_text})")
        return save_figure(fig, path)


# --------------------------------------------------------------------------------------------------
# Easiest / hardest examples
# --------------------------------------------------------------------------------------------------


def _as_display_images(images) -> np.ndarray:
    if images is None:
        raise DataDietError("examples can only be shown for image data (N, C, H, W); got images=None")
    arr = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images)
    if arr.ndim != 4:
        raise DataDietError(
            f"examples can only be shown for image data (N, C, H, W); got an array of shape {arr.shape}"
        )
    if arr.shape[1] not in (1, 3):
        raise DataDietError(f"examples can only be shown for greyscale (C=1) or RGB (C=3) images; got C={arr.shape[1]}")
    return np.clip(np.nan_to_num(arr.astype(np.float32), nan=0.0), 0.0, 1.0)


def _draw_block(
    subfig, rows_: pd.DataFrame, images: np.ndarray, names: Sequence[str], noisy_col: bool, title: str, ncols: int
) -> None:
    n = len(rows_)
    nrows = math.ceil(n / ncols)
    axes = subfig.subplots(nrows, ncols, squeeze=False)
    for j, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if j >= n:
            ax.set_visible(False)
            continue
        row = rows_.iloc[j]
        img = images[int(row["index"])]
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(np.transpose(img, (1, 2, 0)), interpolation="nearest")
        is_noisy = noisy_col and pd.notna(row["noisy"]) and bool(row["noisy"])
        colour = NOISY_COLOUR if is_noisy else "black"
        name = _class_name(names, int(row["label"]))
        if len(name) > 14:
            name = name[:13] + "…"
        ax.set_title(
            f"{name}\n{float(row['score']):.3g}",
            fontsize=8,
            color=colour,
            pad=3,
            fontweight="bold" if is_noisy else "normal",
        )
        for spine in ax.spines.values():
            spine.set_visible(is_noisy)
            if is_noisy:
                spine.set_color(NOISY_COLOUR)
                spine.set_linewidth(3)
    subfig.suptitle(title, fontsize=11, fontweight="bold")


def extreme_examples(
    table: pd.DataFrame, images, class_names: Sequence[str], path: str | os.PathLike, *, method: str, k: int = 16
) -> Path:
    """The ``k`` easiest (lowest score) and ``k`` hardest (highest score) training images.

    ``images`` is an (N, C, H, W) float array already de-normalised to roughly [0, 1] (it is
    clipped); row ``i`` is the example with ``index == i``. Each image is titled with its (training)
    class name and score; examples whose label was corrupted on purpose (``noisy``) get a red border
    and a red title. Raises :class:`DataDietError` for non-image data.
    """
    images = _as_display_images(images)
    table = _check_table(table)
    k = check_positive_int("k", k)
    labels = table["label"].to_numpy(dtype=int)
    names = _check_class_names(class_names, labels)
    idx = table["index"].to_numpy(dtype=np.int64)
    if idx.min() < 0 or idx.max() >= len(images):
        raise DataDietError(
            f"table['index'] must lie in [0, {len(images)}) for {len(images)} images, "
            f"got values in [{idx.min()}, {idx.max()}]"
        )
    k = min(k, len(table))
    # Ties broken by index so the choice is deterministic.
    order = table.sort_values(["score", "index"], kind="mergesort")
    easiest = order.head(k)
    hardest = order.iloc[::-1].head(k)
    noisy = _noisy_mask(table)
    noisy_col = noisy is not None

    ncols = min(k, 8)
    nrows = math.ceil(k / ncols)
    block_h = nrows * 1.45 + 0.5
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(ncols * 1.3 + 0.3, 2 * block_h + 0.8), layout="constrained")
        top, bottom = fig.subfigures(2, 1, hspace=0.04)
        _draw_block(top, easiest, images, names, noisy_col, f"{k} easiest (lowest {method} score)", ncols)
        _draw_block(bottom, hardest, images, names, noisy_col, f"{k} hardest (highest {method} score)", ncols)
        title = f"{method}: easiest and hardest training examples (title: label, score)"
        if noisy_col:
            title += "\nred border = label corrupted on purpose"
        fig.suptitle(title, fontsize=12)
        return save_figure(fig, path)


# --------------------------------------------------------------------------------------------------
# Score vs input norm (Kirsch 2023)
# --------------------------------------------------------------------------------------------------


def _check_vector(name: str, values) -> np.ndarray:
    arr = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=float)
    if arr.ndim != 1:
        raise DataDietError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataDietError(f"{name} must be finite, got {int((~np.isfinite(arr)).sum())} NaN/inf value(s)")
    return arr


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


MAX_SCATTER_POINTS = 5000


def score_vs_input_norm(scores, norms, path: str | os.PathLike, *, method: str) -> float:
    """Scatter of score against input norm ‖x‖₂, titled with Spearman's ρ; returns ρ.

    Kirsch (2023) showed GraNd at initialisation mostly tracks the input norm; ρ near 1 means the
    score is little more than ‖x‖. ρ is computed on all points; at most 5000 (a fixed random
    subsample, ``default_rng(0)``) are drawn. ρ is NaN when either input is constant.
    """
    s = _check_vector("scores", scores)
    x = _check_vector("norms", norms)
    if len(s) != len(x):
        raise DataDietError(f"scores and norms must have the same length, got {len(s)} and {len(x)}")
    if len(s) < 2:
        raise DataDietError(f"need at least 2 examples to correlate, got {len(s)}")
    rho = _spearman(s, x)

    shown = np.arange(len(s))
    if len(s) > MAX_SCATTER_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(len(s), MAX_SCATTER_POINTS, replace=False))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 4.6), layout="constrained")
        ax.scatter(x[shown], s[shown], s=6, alpha=0.35, color=CLEAN_COLOUR, linewidths=0, rasterized=True)
        ax.set_xlabel("input norm ‖x‖₂ (normalised input)")
        ax.set_ylabel(f"{method} score")
        rho_text = "undefined (constant input)" if math.isnan(rho) else f"{rho:.3f}"
        ax.set_title(f"{method} score vs input norm\nSpearman ρ = {rho_text}  (n = {len(s)})")
        if len(shown) < len(s):
            ax.text(
                0.99,
                0.01,
                f"showing {len(shown)} of {len(s)} points",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=8,
                color="0.35",
            )
        ax.grid(alpha=0.3, linewidth=0.5)
        save_figure(fig, path)
    return rho


# --------------------------------------------------------------------------------------------------
# Seed agreement
# --------------------------------------------------------------------------------------------------

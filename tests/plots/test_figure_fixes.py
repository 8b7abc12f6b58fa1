"""Figures a person wants to look at (issue 17, item 8): legends that leave the plot its width, no
error bars claimed without a spread, a log axis that survives 0 weights remaining, labels that stay
inside their axes and off the bars. Each test looks at the drawn figure (Agg renderer)."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import datadiet.plots.diagnostics as diagnostics
import datadiet.plots.lottery as lottery_plots
import datadiet.plots.sweep as sweep_plots
from datadiet.plots import accuracy_vs_flops, accuracy_vs_fraction, compute_dividend, per_class_change, score_histograms
from datadiet.plots.lottery import accuracy_vs_remaining, interpolation_paths
from datadiet.plots.sweep import LEGEND_LABEL_CHARS, method_labels
from datadiet.tables import class_changes, compute_points, flops_points, fraction_points

LONG_TABLE = "table:/home/someone/experiments/2024-05-01/runs/lmcrun_4f9a2c1b7e/scores.parquet"


@pytest.fixture(autouse=True)
def _no_figure_leaks():
    before = len(plt.get_fignums())
    yield
    assert len(plt.get_fignums()) == before


@pytest.fixture
def on_save(monkeypatch):
    """``on_save(probe)``: every figure a plot saves is drawn first and ``probe(fig)`` kept in the list returned."""

    def patch(probe):
        seen = []
        for module in (sweep_plots, diagnostics, lottery_plots):

            def fake(fig, path, real=module.save_figure):
                fig.canvas.draw()
                seen.append(probe(fig))
                return real(fig, path)

            monkeypatch.setattr(module, "save_figure", fake)
        return seen

    return patch


def sweep_results(seeds=(0,), methods=("random", "el2n", LONG_TABLE)) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = [dict(method="full", fraction=0.0, seed=s, test_accuracy=0.90 + 0.002 * s) for s in seeds]
    for i, m in enumerate(methods):
        for f in (0.3, 0.5):
            for s in seeds:
                rows.append(dict(method=m, fraction=f, seed=s, test_accuracy=0.9 - 0.02 * (i + 1) * f + 0.001 * s))
    res = pd.DataFrame(rows)
    for k in range(3):
        res[f"class_{k}_accuracy"] = np.clip(res["test_accuracy"] + rng.normal(0, 0.02, len(res)), 0, 1)
    res["train_examples"] = 1000 * (1 - res["fraction"]) * 20.0
    res["scoring_examples"] = np.where(res["method"].isin(["full", "random"]), 0.0, 4000.0)
    res["flops_vs_full"] = (res["train_examples"] + res["scoring_examples"]) / 20000.0
    return res


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _legend_texts(fig) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [t.get_text() for leg in legends for t in leg.get_texts()]


# -- 1. a table:PATH method does not squeeze the plot ---------------------------------------------------

SWEEP_FIGURES = {
    "accuracy_vs_fraction": lambda r, p: accuracy_vs_fraction(fraction_points(r), p),
    "compute_dividend": lambda r, p: compute_dividend(compute_points(r), p),
    "accuracy_vs_flops": lambda r, p: accuracy_vs_flops(flops_points(r), p),
    "per_class_change": lambda r, p: per_class_change(class_changes(r, 0.5), ["a", "b", "c"], p),
}


@pytest.mark.parametrize("name", list(SWEEP_FIGURES))
def test_a_long_table_path_keeps_the_plot_wide(name, tmp_path, on_save):
    seen = on_save(lambda fig: (fig.axes[0].get_position().width, _legend_texts(fig)))
    SWEEP_FIGURES[name](sweep_results(), tmp_path / "f.png")
    (width, labels) = seen[-1]
    assert width > 0.6, f"the axes keep {width:.0%} of the figure's width"
    (table_label,) = [t for t in labels if "scores.parquet" in t]
    assert table_label.startswith("table:") and "/home/someone" not in table_label
    assert len(table_label.split(" (overall")[0]) <= LEGEND_LABEL_CHARS


def test_method_labels_tell_tables_apart_and_leave_names_alone():
    labels = method_labels(["el2n", "table:runs/a/scores.parquet", "table:runs/b/scores.parquet", "grand@0"])
    assert labels["el2n"] == "el2n" and labels["grand@0"] == "grand@0"
    assert labels["table:runs/a/scores.parquet"] == "table:…/a/scores.parquet"
    assert labels["table:runs/b/scores.parquet"] == "table:…/b/scores.parquet"
    assert method_labels(["table:s.npz"]) == {"table:s.npz": "table:s.npz"}
    long = "a-method-with-a-very-long-name-indeed-" * 2
    assert len(method_labels([long])[long]) == LEGEND_LABEL_CHARS


# -- 2. no error bars claimed with one seed ---------------------------------------------------------------


def test_one_seed_claims_no_error_bars(tmp_path, on_save):
    seen = on_save(lambda fig: (_texts(fig), len(fig.axes[0].containers)))
    accuracy_vs_flops(flops_points(sweep_results(seeds=(0,))), tmp_path / "one.png")
    texts, bars = seen[-1]
    assert not any("±1 std" in t or "± 1 std" in t for t in texts)
    assert "one seed: no error bars" in texts and bars == 0


def test_several_seeds_keep_their_error_bars(tmp_path, on_save):
    seen = on_save(lambda fig: (_texts(fig), len(fig.axes[0].containers)))
    accuracy_vs_flops(flops_points(sweep_results(seeds=(0, 1))), tmp_path / "two.png")
    texts, bars = seen[-1]
    assert "error bars: ±1 std over seeds" in texts and bars > 0


# -- 3. the lottery figure's log axis with 0 weights remaining --------------------------------------------


def lottery_results(remaining=(1.0, 0.5, 0.2, 0.05, 0.0)) -> pd.DataFrame:
    rows = [
        dict(condition=c, level=lvl, remaining=r, test_accuracy=0.95 - 0.4 * (1 - r) ** 4 + 0.003 * rep)
        for c in ("imp", "random-prune", "random-reinit")
        for lvl, r in enumerate(remaining)
        for rep in range(2)
    ]
    return pd.DataFrame(rows)


def test_lottery_log_axis_survives_zero_weights_remaining(tmp_path, on_save):
    def probe(fig):
        ax = fig.axes[0]
        lines = [ln.get_xdata() for ln in ax.get_lines() if ln.get_marker() not in (None, "None", "")]
        return np.concatenate(lines), ax.get_xticks(), ax.get_xlim(), ax.get_xlabel()

    seen = on_save(probe)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accuracy_vs_remaining(lottery_results(), tmp_path / "lottery.png")
    drawn, ticks, xlim, xlabel = seen[-1]
    assert drawn.min() == pytest.approx(5.0)  # 5%, the sparsest level with weights left
    assert min(ticks) > 0 and min(xlim) > 1 and max(xlim) < 200  # the axis spans 5%..100%, not 0
    assert "0 weights remaining" in xlabel and "not drawn" in xlabel


def test_lottery_without_zero_remaining_says_nothing_extra(tmp_path, on_save):
    seen = on_save(lambda fig: fig.axes[0].get_xlabel())
    accuracy_vs_remaining(lottery_results((1.0, 0.5, 0.2)), tmp_path / "lottery.png")
    assert seen[-1] == "weights remaining (%), log scale"


# -- 4. the LMC figure's barrier label stays inside its axes ----------------------------------------------

ALPHAS = np.linspace(0, 1, 11)
LMC_PATHS = {
    "one pair, flat top": [0.02 + 0.85 * np.sin(np.pi * ALPHAS) ** 0.3],
    "two pairs": [0.02 + 0.85 * np.sin(np.pi * ALPHAS), 0.02 + 0.88 * np.sin(np.pi * ALPHAS)],
    "peak at the end": [0.02 + 0.6 * ALPHAS],
    "flat": [np.full(11, 0.1)],
}


@pytest.mark.parametrize("name", list(LMC_PATHS))
def test_lmc_barrier_label_lies_inside_the_axes(name, tmp_path, on_save):
    def probe(fig):
        ax = fig.axes[0]
        r = fig.canvas.get_renderer()
        (label,) = [t for t in ax.texts if t.get_text().startswith("barrier")]
        others = [ax.title.get_window_extent(r), *(leg.get_window_extent(r) for leg in fig.legends)]
        return label.get_window_extent(r), ax.get_window_extent(r), others

    seen = on_save(probe)
    interpolation_paths(ALPHAS, np.array(LMC_PATHS[name]), tmp_path / "lmc.png", title="mnist1d, resnet1d")
    box, axes_box, others = seen[-1]
    assert axes_box.x0 < box.x0 and box.x1 < axes_box.x1, "the label leaves the axes sideways"
    assert axes_box.y0 < box.y0 and box.y1 < axes_box.y1 - 2, "the label crosses the frame"
    assert not any(box.overlaps(o) for o in others)


# -- 5. histogram labels do not cover the bars --------------------------------------------------------------


def test_histogram_labels_do_not_cover_bars(tmp_path, on_save):
    rng = np.random.default_rng(0)
    n = 3000
    labels = rng.integers(0, 3, n)
    score = -rng.gamma(2.0, 0.2, n)  # the tallest bars at the right, where a corner label would sit
    table = pd.DataFrame({"index": np.arange(n), "label": labels, "score": score, "seed_0": score})

    def probe(fig):
        r = fig.canvas.get_renderer()
        hits, stats = [], []
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            texts = [t for t in [*ax.texts, ax.title] if t.get_text()]
            stats += [t.get_text() for t in texts if "median" in t.get_text()]
            bars = [p.get_window_extent(r) for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
            hits += [t.get_text() for t in texts if any(t.get_window_extent(r).overlaps(b) for b in bars)]
        return hits, stats

    seen = on_save(probe)
    score_histograms(table, ["cat", "dog", "plane"], tmp_path / "hist.png", method="margin")
    hits, stats = seen[-1]
    assert hits == []
    assert len(stats) == 3 and all("n = " in s for s in stats)  # the class's median and size still written

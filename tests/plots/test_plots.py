import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import datadiet.plots.sweep as sweep_plots
from datadiet.errors import DataDietError
from datadiet.plots import (
    METHOD_STYLES,
    accuracy_vs_flops,
    accuracy_vs_fraction,
    compute_dividend,
    extreme_examples,
    per_class_change,
    score_histograms,
    score_vs_input_norm,
)
from datadiet.tables import (
    METHOD_ORDER,
    accuracy_table,
    class_changes,
    compute_points,
    flops_points,
    fraction_points,
    is_dynamic,
    pareto_front,
)
from datadiet.training.dynamic import DYNAMIC_PRUNERS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASS_NAMES = ["cat", "dog", "aeroplane"]


def assert_png(path, min_bytes=10_000):
    assert path.exists()
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 400
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write cleaned up


@pytest.fixture(autouse=True)
def _no_figure_leaks():
    before = len(plt.get_fignums())
    yield
    assert len(plt.get_fignums()) == before


@pytest.fixture(scope="module")
def score_table():
    rng = np.random.default_rng(0)
    n = 300
    label = rng.integers(0, 3, n)
    noisy = rng.random(n) < 0.1
    base = rng.gamma(2.0, 0.2, n) + 0.5 * noisy
    seeds = np.stack([base + rng.normal(0, 0.05, n) for _ in range(2)])
    table = pd.DataFrame(
        {
            "index": np.arange(n),
            "label": label,
            "score": seeds.mean(0),
            "score_std": seeds.std(0),
            "seed_0": seeds[0],
            "seed_1": seeds[1],
            "noisy": noisy,
        }
    )
    images = rng.random((n, 3, 12, 12)).astype(np.float32) * 1.2 - 0.1  # slightly out of [0, 1]
    return table, images


@pytest.fixture(scope="module")
def sweep_table():
    rng = np.random.default_rng(1)
    rows = []
    for seed in (0, 1):
        rows.append(dict(method="full", fraction=0.0, seed=seed, test_accuracy=0.90 + 0.002 * seed))
    for method, drop in (("random", 0.08), ("el2n", 0.02), ("grand", 0.04)):
        for fraction in (0.3, 0.5):
            for seed in (0, 1):
                rows.append(
                    dict(
                        method=method,
                        fraction=fraction,
                        seed=seed,
                        test_accuracy=0.90 - drop * fraction + rng.normal(0, 0.003),
                    )
                )
    res = pd.DataFrame(rows)
    for k in range(3):
        res[f"class_{k}_accuracy"] = np.clip(res["test_accuracy"] + rng.normal(0, 0.02, len(res)), 0, 1)
    res["train_size"] = (1000 * (1 - res["fraction"])).astype(int)
    res["train_examples"] = res["train_size"] * 20.0
    res["train_seconds"] = res["train_examples"] / 1e4
    res["scoring_examples"] = res["method"].map(
        {"full": 0.0, "random": 0.0, "el2n": 4 * 1000 * 5.0, "grand": 4 * 1000.0}
    )
    res["scoring_seconds"] = res["scoring_examples"] / 1e4
    res["train_flops"] = res["train_examples"] * 10.0
    res["scoring_flops"] = res["scoring_examples"] * 10.0
    res["flops_vs_full"] = (res["train_flops"] + res["scoring_flops"]) / (1000 * 20.0 * 10.0)
    return res


# -- diagnostics ---------------------------------------------------------------------------------


def test_score_histograms(score_table, tmp_path):
    table, _ = score_table
    out = score_histograms(table, CLASS_NAMES, tmp_path / "hist.png", method="el2n")
    assert out == tmp_path / "hist.png"
    assert_png(out)


def test_score_histograms_without_noisy_column(score_table, tmp_path):
    table, _ = score_table
    assert_png(score_histograms(table.drop(columns="noisy"), CLASS_NAMES, tmp_path / "h.png", method="loss"))


def test_score_histograms_rejects_bad_labels(score_table, tmp_path):
    table, _ = score_table
    with pytest.raises(DataDietError, match="labels"):
        score_histograms(table, ["cat", "dog"], tmp_path / "h.png", method="el2n")
    with pytest.raises(DataDietError, match="missing column"):
        score_histograms(table.drop(columns="score"), CLASS_NAMES, tmp_path / "h.png", method="el2n")


def test_extreme_examples_rgb_and_grey(score_table, tmp_path):
    table, images = score_table
    assert_png(extreme_examples(table, images, CLASS_NAMES, tmp_path / "rgb.png", method="el2n", k=8))
    assert_png(extreme_examples(table, images[:, :1], CLASS_NAMES, tmp_path / "grey.png", method="grand"))


@pytest.mark.parametrize("images", [None, np.zeros((300, 20)), np.zeros((300, 2, 4, 4))])
def test_extreme_examples_rejects_non_images(score_table, tmp_path, images):
    table, _ = score_table
    with pytest.raises(DataDietError, match="image"):
        extreme_examples(table, images, CLASS_NAMES, tmp_path / "x.png", method="el2n")
    assert not (tmp_path / "x.png").exists()


def test_extreme_examples_is_a_value_error_for_non_images(score_table, tmp_path):
    table, _ = score_table
    with pytest.raises(ValueError, match="only be shown for image data"):
        extreme_examples(table, None, CLASS_NAMES, tmp_path / "x.png", method="el2n")


def test_extreme_examples_rejects_out_of_range_index(score_table, tmp_path):
    table, images = score_table
    with pytest.raises(DataDietError, match="index"):
        extreme_examples(table, images[:10], CLASS_NAMES, tmp_path / "x.png", method="el2n")


def test_score_vs_input_norm_monotone_and_independent(tmp_path):
    rng = np.random.default_rng(0)
    norms = rng.gamma(3.0, 1.0, 6000)  # > 5000: exercises the subsample
    rho = score_vs_input_norm(np.log(norms) * 2 + 1, norms, tmp_path / "mono.png", method="grand")
    assert isinstance(rho, float) and rho == pytest.approx(1.0)
    assert_png(tmp_path / "mono.png")
    rho = score_vs_input_norm(rng.random(2000), rng.random(2000), tmp_path / "indep.png", method="grand")
    assert abs(rho) < 0.1
    assert_png(tmp_path / "indep.png")


def test_score_vs_input_norm_rejects_mismatch(tmp_path):
    with pytest.raises(DataDietError, match="same length"):
        score_vs_input_norm(np.zeros(5), np.zeros(6), tmp_path / "x.png", method="grand")
    with pytest.raises(DataDietError, match="finite"):
        score_vs_input_norm(np.array([1.0, np.nan]), np.ones(2), tmp_path / "x.png", method="grand")


def test_accuracy_vs_fraction(sweep_table, tmp_path):
    assert_png(accuracy_vs_fraction(fraction_points(sweep_table), tmp_path / "acc.png"))
    assert_png(accuracy_vs_fraction(fraction_points(sweep_table), tmp_path / "acc2.png", title="CIFAR-10, ResNet-18"))


def test_accuracy_vs_fraction_with_full_rows_under_each_method(sweep_table, tmp_path):
    full = sweep_table[sweep_table["method"] == "full"]
    per_method = pd.concat([full.assign(method=m) for m in ("random", "el2n", "grand")])
    res = pd.concat([sweep_table[sweep_table["method"] != "full"], per_method], ignore_index=True)
    assert_png(accuracy_vs_fraction(fraction_points(res), tmp_path / "acc.png"))
    table = accuracy_table(res)
    assert table[0.0].nunique() == 1  # the pooled full-data accuracy
    assert table.loc["el2n", 0.0] == pytest.approx(round(full["test_accuracy"].mean() * 100, 2))


def test_per_class_change(sweep_table, tmp_path):
    assert_png(per_class_change(class_changes(sweep_table, 0.5), CLASS_NAMES, tmp_path / "pc.png"))


def test_per_class_change_unknown_fraction_lists_available(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match=r"available fractions: 0\.3, 0\.5"):
        class_changes(sweep_table, 0.7)


def test_per_class_change_needs_full_rows(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match="fraction == 0"):
        class_changes(sweep_table[sweep_table["fraction"] > 0], 0.5)


def test_compute_dividend(sweep_table, tmp_path):
    assert_png(compute_dividend(compute_points(sweep_table), tmp_path / "cd.png"))


def test_compute_dividend_needs_cost_columns(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match="scoring_examples"):
        compute_points(sweep_table.drop(columns="scoring_examples"))


def test_accuracy_table(sweep_table):
    table = accuracy_table(sweep_table)
    assert list(table.index) == ["random", "el2n", "grand"]
    assert list(table.columns) == [0.0, 0.3, 0.5]
    rows = sweep_table[(sweep_table["method"] == "el2n") & (sweep_table["fraction"] == 0.5)]
    assert table.loc["el2n", 0.5] == pytest.approx(round(rows["test_accuracy"].mean() * 100, 2))
    text = accuracy_table(sweep_table, with_std=True)
    std = rows["test_accuracy"].std() * 100
    assert text.loc["el2n", 0.5] == f"{table.loc['el2n', 0.5]:.2f} ± {std:.2f}"


def test_sweep_rejects_bad_fraction(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match="fraction"):
        fraction_points(sweep_table.assign(fraction=1.5))


# -- titles and subtitles (the sweep's budget and schedule) -----------------------------------------

SETUP = (
    "fashion-mnist, cnn, 8 epochs onecycle lr 0.05, "
    "budget: equal steps (every subset trains 3,752 steps, as many as full data)"
)


@pytest.fixture
def figure_texts(monkeypatch):
    """Every text drawn on each figure saved by the sweep plots, flattened to one string per figure."""
    seen = []
    real = sweep_plots.save_figure

    def capture(fig, path):
        texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
        seen.append(" ".join(" ".join(texts).split()))  # wrapped lines joined again
        return real(fig, path)

    monkeypatch.setattr(sweep_plots, "save_figure", capture)
    return seen


@pytest.mark.parametrize(
    "draw",
    [
        lambda t, p, **kw: accuracy_vs_fraction(fraction_points(t), p, **kw),
        lambda t, p, **kw: per_class_change(class_changes(t, 0.5), CLASS_NAMES, p, **kw),
        lambda t, p, **kw: compute_dividend(compute_points(t), p, **kw),
        lambda t, p, **kw: accuracy_vs_flops(flops_points(t), p, **kw),
    ],
    ids=["accuracy_vs_fraction", "per_class_change", "compute_dividend", "accuracy_vs_flops"],
)
def test_sweep_plots_take_title_and_subtitle(draw, sweep_table, tmp_path, figure_texts):
    assert_png(draw(sweep_table, tmp_path / "a.png", title="My title", subtitle=SETUP))
    assert "My title" in figure_texts[-1]
    assert SETUP in figure_texts[-1].replace("\n", " ") or all(
        part in figure_texts[-1] for part in SETUP.split(", budget: ")
    )
    assert "budget: equal steps" in figure_texts[-1]
    assert_png(draw(sweep_table, tmp_path / "b.png", subtitle=SETUP))  # default title, with the setup under it
    assert "8 epochs onecycle lr 0.05" in figure_texts[-1]
    assert_png(draw(sweep_table, tmp_path / "c.png"))  # no subtitle: as before
    assert "budget" not in figure_texts[-1]


def test_sweep_plot_subtitle_must_be_text(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match="subtitle must be a string"):
        accuracy_vs_fraction(fraction_points(sweep_table), tmp_path / "x.png", subtitle=3)


def test_per_class_change_whiskers_with_identical_seeds(sweep_table, tmp_path):
    # three seeds with the same class accuracies: the mean can sit an ulp outside min-max
    rows = sweep_table[(sweep_table["fraction"] == 0.5) & (sweep_table["seed"] == 0)]
    same = pd.concat([rows.assign(seed=s) for s in range(3)] + [sweep_table[sweep_table["fraction"] != 0.5]])
    for k in range(3):  # values for which numpy's mean of three equal deltas exceeds their max by an ulp
        same[f"class_{k}_accuracy"] = np.where(
            same["fraction"] == 0.5,
            0.7296554464299441,
            np.where(same["fraction"] == 0, 0.17565562060255901, same[f"class_{k}_accuracy"]),
        )
    assert_png(per_class_change(class_changes(same, 0.5), CLASS_NAMES, tmp_path / "pc.png"))


# -- accuracy vs total FLOPs and the Pareto front ----------------------------------------------------


def test_pareto_front_by_hand():
    points = [
        (1.0, 0.90),  # 0 full data: nothing as cheap is as accurate -> front
        (0.5, 0.85),  # 1 front
        (0.5, 0.85),  # 2 the same point again: equal points do not dominate each other -> front
        (0.5, 0.80),  # 3 same cost as 1, less accurate -> dominated
        (0.7, 0.85),  # 4 same accuracy as 1, costlier -> dominated
        (1.2, 0.92),  # 5 the most accurate -> front
        (1.5, 0.92),  # 6 as accurate as 5, costlier -> dominated
        (0.3, 0.70),  # 7 the cheapest -> front
        (np.nan, 0.99),  # 8 no cost: never on the front, dominates nothing
    ]
    assert pareto_front(points).tolist() == [True, True, True, False, False, True, False, True, False]
    assert pareto_front(np.zeros((0, 2))).tolist() == []
    assert pareto_front([(2.0, 0.5)]).tolist() == [True]
    with pytest.raises(DataDietError, match=r"\(n, 2\)"):
        pareto_front([1.0, 2.0, 3.0])


def flops_results():
    """Full data at (1x, 90%); random 30%/50% and grand 50% cheap, el2n 30%/50% dear but accurate.

    By hand: el2n 50% (1.0x, 90.5%) beats full data (1.0x, 90%), so full data is off the front;
    grand 50% ties random 50% exactly (0.5x, 86%), so both are on it; random 70% (0.5x, 84%) is
    dominated by the tie; el2n 70% has no FLOPs (an older row) and is left out.
    """
    cells = {  # (method, fraction): (flops_vs_full, accuracies over seeds)
        ("full", 0.0): (1.0, [0.89, 0.91]),
        ("random", 0.3): (0.7, [0.87, 0.89]),
        ("random", 0.5): (0.5, [0.85, 0.87]),
        ("random", 0.7): (0.5, [0.83, 0.85]),
        ("grand", 0.5): (0.5, [0.85, 0.87]),
        ("el2n", 0.3): (1.2, [0.91, 0.91]),
        ("el2n", 0.5): (1.0, [0.905, 0.905]),
        ("el2n", 0.7): (np.nan, [0.99, 0.99]),
    }
    rows = [
        dict(method=m, fraction=f, seed=seed, test_accuracy=acc, flops_vs_full=x)
        for (m, f), (x, accs) in cells.items()
        for seed, acc in enumerate(accs)
    ]
    return pd.DataFrame(rows)


FRONT = [("random", 0.5), ("grand", 0.5), ("random", 0.3), ("el2n", 0.5), ("el2n", 0.3)]


def test_flops_points_marks_the_pareto_front():
    pts = flops_points(flops_results())
    assert pts.iloc[0]["method"] == "full" and pts.iloc[0]["flops_vs_full"] == 1.0
    assert pts.iloc[0]["accuracy"] == pytest.approx(0.90)
    assert pts.iloc[0]["accuracy_std"] == pytest.approx(np.std([0.89, 0.91], ddof=1))
    assert ("el2n", 0.7) not in set(zip(pts["method"], pts["fraction"]))  # no FLOPs: left out
    on_front = set(zip(pts.loc[pts["pareto"], "method"], pts.loc[pts["pareto"], "fraction"]))
    assert on_front == set(FRONT)
    assert list(pts["method"]) == ["full", "random", "random", "random", "el2n", "el2n", "grand"]


def test_accuracy_vs_flops_draws_the_front(tmp_path, figure_texts, monkeypatch):
    steps = []
    real = sweep_plots.save_figure

    def capture(fig, path):
        steps.extend(ln for ln in fig.axes[0].get_lines() if ln.get_drawstyle() == "steps-post")
        return real(fig, path)

    monkeypatch.setattr(sweep_plots, "save_figure", capture)
    out = accuracy_vs_flops(flops_points(flops_results()), tmp_path / "pareto.png", subtitle=SETUP)
    assert out == tmp_path / "pareto.png"
    assert_png(out, min_bytes=30_000)
    (line,) = steps
    assert list(line.get_xdata()) == [0.5, 0.5, 0.7, 1.0, 1.2]  # the front by cost
    assert np.allclose(line.get_ydata(), [86.0, 86.0, 88.0, 90.5, 91.0])
    text = figure_texts[-1]
    assert "Pareto front (5 points)" in text and "full data: 90.00% ± 1.41 (2 runs)" in text
    assert "30%" in text and "50%" in text  # points labelled with their fraction


def test_accuracy_vs_flops_needs_flops_and_full_data(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match="flops_vs_full"):
        flops_points(sweep_table.drop(columns="flops_vs_full"))
    with pytest.raises(DataDietError, match="fraction == 0"):
        flops_points(sweep_table[sweep_table["fraction"] > 0])
    with pytest.raises(DataDietError, match="no pruned rows"):
        accuracy_vs_flops(flops_points(sweep_table.assign(flops_vs_full=np.nan)), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_accuracy_vs_flops_dynamic_methods_and_single_seed(sweep_table, tmp_path, figure_texts):
    dyn = sweep_table[sweep_table["method"] == "random"].assign(method="infobatch")
    res = pd.concat([sweep_table, dyn], ignore_index=True)
    res = res[res["seed"] == 0]
    assert_png(accuracy_vs_flops(flops_points(res), tmp_path / "dyn.png"))
    assert "infobatch (dynamic)" in figure_texts[-1] and "compute saved" in figure_texts[-1]
    assert "full data: 90.00% (1 run)" in figure_texts[-1]


# -- figures draw finished tables ---------------------------------------------------------------------


def test_sweep_plots_take_their_tables_not_the_results(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match=r"datadiet\.tables\.fraction_points"):
        accuracy_vs_fraction(sweep_table, tmp_path / "x.png")
    with pytest.raises(DataDietError, match=r"datadiet\.tables\.flops_points"):
        accuracy_vs_flops(compute_points(sweep_table), tmp_path / "x.png")
    with pytest.raises(DataDietError, match=r"datadiet\.tables\.class_changes"):
        per_class_change(sweep_table, CLASS_NAMES, tmp_path / "x.png")
    with pytest.raises(DataDietError, match="class_names has 2 names"):
        per_class_change(class_changes(sweep_table, 0.5), CLASS_NAMES[:2], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_point_tables_by_hand(sweep_table):
    pts = fraction_points(sweep_table)
    assert list(zip(pts["method"], pts["fraction"]))[:3] == [("full", 0.0), ("random", 0.3), ("random", 0.5)]
    el2n = sweep_table[(sweep_table["method"] == "el2n") & (sweep_table["fraction"] == 0.5)]["test_accuracy"]
    row = pts[(pts["method"] == "el2n") & (pts["fraction"] == 0.5)].iloc[0]
    assert (row["accuracy"], row["accuracy_min"], row["accuracy_max"], row["n"]) == (
        el2n.mean(),
        el2n.min(),
        el2n.max(),
        2,
    )
    cp = compute_points(sweep_table)
    assert cp.iloc[0]["compute"] == 1.0 and cp.iloc[0]["n"] == 2
    el2n_cp = cp[(cp["method"] == "el2n") & (cp["fraction"] == 0.5)].iloc[0]
    assert el2n_cp["compute"] == pytest.approx((4 * 1000 * 5.0 + 500 * 20.0) / (1000 * 20.0))
    ch = class_changes(sweep_table, 0.5)
    assert len(ch) == 3 * 3 and list(ch["class"][:3]) == [0, 1, 2]
    assert (ch["change_min"] <= ch["change"] + 1e-12).all() and (ch["change"] <= ch["change_max"] + 1e-12).all()


def test_one_style_per_known_method_and_one_list_of_dynamic_methods():
    assert tuple(METHOD_STYLES) == METHOD_ORDER
    assert all(is_dynamic(m) for m in DYNAMIC_PRUNERS) and not is_dynamic("el2n")

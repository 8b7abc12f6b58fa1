import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from datadiet.errors import DataDietError
from datadiet.plots import (
    accuracy_table,
    accuracy_vs_fraction,
    compute_dividend,
    extreme_examples,
    per_class_change,
    score_histograms,
    score_vs_input_norm,
)

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
    assert_png(accuracy_vs_fraction(sweep_table, tmp_path / "acc.png"))
    assert_png(accuracy_vs_fraction(sweep_table, tmp_path / "acc2.png", title="CIFAR-10, ResNet-18"))


def test_accuracy_vs_fraction_with_full_rows_under_each_method(sweep_table, tmp_path):
    full = sweep_table[sweep_table["method"] == "full"]
    per_method = pd.concat([full.assign(method=m) for m in ("random", "el2n", "grand")])
    res = pd.concat([sweep_table[sweep_table["method"] != "full"], per_method], ignore_index=True)
    assert_png(accuracy_vs_fraction(res, tmp_path / "acc.png"))
    table = accuracy_table(res)
    assert table[0.0].nunique() == 1  # the pooled full-data accuracy
    assert table.loc["el2n", 0.0] == pytest.approx(round(full["test_accuracy"].mean() * 100, 2))


def test_per_class_change(sweep_table, tmp_path):
    assert_png(per_class_change(sweep_table, CLASS_NAMES, tmp_path / "pc.png", fraction=0.5))


def test_per_class_change_unknown_fraction_lists_available(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match=r"available fractions: 0\.3, 0\.5"):
        per_class_change(sweep_table, CLASS_NAMES, tmp_path / "pc.png", fraction=0.7)


def test_per_class_change_needs_full_rows(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match="fraction == 0"):
        per_class_change(sweep_table[sweep_table["fraction"] > 0], CLASS_NAMES, tmp_path / "pc.png", fraction=0.5)


def test_compute_dividend(sweep_table, tmp_path):
    assert_png(compute_dividend(sweep_table, tmp_path / "cd.png"))


def test_compute_dividend_needs_cost_columns(sweep_table, tmp_path):
    with pytest.raises(DataDietError, match="scoring_examples"):
        compute_dividend(sweep_table.drop(columns="scoring_examples"), tmp_path / "cd.png")


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
        accuracy_vs_fraction(sweep_table.assign(fraction=1.5), tmp_path / "x.png")


# -- titles and subtitles (the sweep's budget and schedule) -----------------------------------------

SETUP = (
    "fashion-mnist, cnn, 8 epochs onecycle lr 0.05, "
    "budget: equal steps (every subset trains 3,752 steps, as many as full data)"
)


@pytest.fixture
def figure_texts(monkeypatch):
    """Every text drawn on each figure saved by the sweep plots, flattened to one string per figure."""
    import datadiet.plots.sweep as sweep_plots

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
        lambda t, p, **kw: accuracy_vs_fraction(t, p, **kw),
        lambda t, p, **kw: per_class_change(t, CLASS_NAMES, p, fraction=0.5, **kw),
        lambda t, p, **kw: compute_dividend(t, p, **kw),
    ],
    ids=["accuracy_vs_fraction", "per_class_change", "compute_dividend"],
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
        accuracy_vs_fraction(sweep_table, tmp_path / "x.png", subtitle=3)


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
    assert_png(per_class_change(same, CLASS_NAMES, tmp_path / "pc.png", fraction=0.5))

"""Who pays for the diet beyond classes: groups in the data, per-group and worst-group accuracy, group-balanced pruning."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from datadiet.data import from_arrays
from datadiet.data.groups import apply_grouping, brightness_quartiles, group_accuracy
from datadiet.errors import DataDietError
from datadiet.experiments import ScoreConfig, SweepConfig, run_sweep, score_dataset
from datadiet.experiments.prune import prune, read_kept, sidecar_path
from datadiet.reports import report_markdown
from datadiet.reports.groups import group_lines
from datadiet.stages.train import TEST_PREDICTIONS
from datadiet.tables import subgroup_changes
from datadiet.training import TrainConfig

TCFG = TrainConfig(model="mlp", epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def grouped():
    """Tiny images where group 1 (a dim source) is a hard minority."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 4, n)
        g = (rng.random(n) < 0.25).astype(int)
        x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
        for i, c in enumerate(y):
            r, k = divmod(int(c), 2)
            x[i, 0, r * 4 : (r + 1) * 4, k * 4 : (k + 1) * 4] += 0.4 if g[i] else 1.0
        return x, y, g

    xtr, ytr, gtr = make(256)
    xte, yte, gte = make(200)
    return from_arrays("grouped", xtr, ytr, xte, yte, g_train=gtr, g_test=gte, group_names=("main", "dim source"))


def test_group_accuracy_against_a_naive_count():
    pred, y, g = np.array([0, 1, 1, 2, 0]), np.array([0, 1, 0, 2, 1]), np.array([0, 0, 1, 1, 2])
    acc = group_accuracy(pred, y, g, 4)
    assert acc[:3] == [1.0, 0.5, 0.0] and np.isnan(acc[3])


def test_sweep_has_group_columns_and_the_report_names_the_worst_group(grouped, tmp_path):
    cfg = SweepConfig(methods=("random", "el2n"), fractions=(0.0, 0.5), seeds=2, train=TCFG, score_epoch=1)
    res = run_sweep(grouped, cfg, out=tmp_path)
    df = res.results
    assert {"group_0_accuracy", "group_1_accuracy", "worst_group_accuracy"} <= set(df.columns)
    row = df.iloc[0]
    pred = np.load(tmp_path / row["run_dir"].split("/")[-1] / TEST_PREDICTIONS)
    want = group_accuracy(pred, grouped.y_test.numpy(), grouped.g_test, 2)
    assert [row["group_0_accuracy"], row["group_1_accuracy"]] == want and row["worst_group_accuracy"] == min(want)
    assert res.overview()["worst_group_accuracy"]["random"]["0.0"] == pytest.approx(
        df[df.fraction == 0].worst_group_accuracy.mean()
    )
    summary = __import__("json").loads((res.path / "summary.json").read_text())
    assert summary["group_names"] == ["main", "dim source"]
    text = report_markdown(summary, df)
    changes = subgroup_changes(df, "group", 0.5)
    m, k = changes.stack().idxmin()
    assert "## Per-group accuracy change at 50% pruned" in text
    change = changes.loc[m, k]
    said = f"loses {-change:.1f} points" if change < 0 else f"gains {change:.1f} points"
    assert f"**Worst group**: {('main', 'dim source')[k]}, which {said} under {m}" in text or round(change, 1) == 0
    assert "Worst-group test accuracy (%)" in text


@pytest.mark.parametrize(
    "worst, said",
    [(0.33, "loses 57.0 points"), (0.95, "gains 5.0 points"), (0.9, "keeps its accuracy (change 0.0 points)")],
)
def test_the_worst_group_line_says_loses_or_gains_without_a_sign(worst, said):
    """A change of -57 points is "loses 57.0 points" (never "loses -57.0"); a gain is a gain."""
    df = pd.DataFrame(
        {
            "method": ["random", "random"],
            "fraction": [0.0, 0.5],
            "group_0_accuracy": [0.9, worst],
            "group_1_accuracy": [0.5, 0.6],  # +10 points: group 0 is the worst
        }
    )
    text = "\n".join(group_lines(df, {"group_names": ["dark", "bright"]}, 0.5, "setup", 1))
    assert f"**Worst group**: dark, which {said} under random at 50% pruned." in text, text
    assert "loses -" not in text and "loses +" not in text


def test_runs_without_kept_predictions_get_them_from_their_model(grouped, tmp_path):
    cfg = SweepConfig(methods=("random",), fractions=(0.0, 0.5), train=TCFG)
    first = run_sweep(grouped, cfg, out=tmp_path).results
    pred_file = sorted(tmp_path.glob(f"train_*/{TEST_PREDICTIONS}"))[0]
    kept = np.load(pred_file)
    pred_file.unlink()  # a run made before predictions were kept
    again = run_sweep(grouped, cfg, out=tmp_path).results
    pd.testing.assert_frame_equal(first, again)
    np.testing.assert_array_equal(np.load(pred_file), kept)


def test_brightness_quartiles_and_groupings(tiny_images):
    ds = brightness_quartiles(tiny_images)
    raw = tiny_images.denormalise(tiny_images.x_train).flatten(1).double().mean(1).numpy()
    assert np.bincount(ds.g_train).tolist() == [64, 64, 64, 64]  # quartiles of the training set
    assert raw[ds.g_train == 3].min() >= raw[ds.g_train == 0].max()
    assert ds.g_test.shape == (128,) and ds.group_names[0] == "darkest quarter"
    with pytest.raises(DataDietError, match="unknown grouping 'nope'; valid: brightness"):
        apply_grouping(tiny_images, "nope")
    with pytest.raises(DataDietError, match="g_train must have shape"):
        from_arrays("x", np.zeros((4, 3)), [0, 1, 0, 1], np.zeros((2, 3)), [0, 1], g_train=[0, 1], g_test=[0, 1])
    with pytest.raises(DataDietError, match="both g_train and g_test"):
        from_arrays("x", np.zeros((4, 3)), [0, 1, 0, 1], np.zeros((2, 3)), [0, 1], g_train=[0, 1, 0, 1])


def test_prune_sidecar_group_balance_and_refusing_other_data(grouped, tiny_images, tmp_path):
    table = score_dataset(
        grouped, ScoreConfig(method="el2n", epoch=1, seeds=(0,), train=TCFG), out=tmp_path
    ).path.parent
    out = tmp_path / "kept.npy"
    res = prune(table / "scores.parquet", keep=0.5, out=out, dataset=grouped, balanced=True, balanced_by="group")
    meta = __import__("json").loads(sidecar_path(out).read_text())
    assert meta["indices"] == "kept" and meta["count"] == res["kept"] == 128 and meta["pruned_fraction"] == 0.5
    assert meta["method"] == "el2n" and meta["score_run"] == table.name and meta["balanced_by"] == "group"
    assert meta["dataset"] == {"name": "grouped", "fingerprint": grouped.fingerprint}
    idx = read_kept(out, grouped)
    share = np.bincount(grouped.g_train[idx], minlength=2) / np.bincount(grouped.g_train, minlength=2)
    assert np.allclose(share, 0.5, atol=0.01)  # each group keeps its share
    with pytest.raises(DataDietError, match="refusing to apply it"):
        read_kept(out, tiny_images)
    sidecar_path(out).unlink()
    with pytest.raises(DataDietError, match="no sidecar"):
        read_kept(out, grouped)
    ungrouped = dataclasses.replace(grouped, g_train=None, g_test=None, group_names=())  # same fingerprint
    with pytest.raises(DataDietError, match="needs groups"):
        prune(table / "scores.parquet", keep=0.5, out=out, dataset=ungrouped, balanced=True, balanced_by="group")
    with pytest.raises(DataDietError, match="was made on dataset 'grouped'"):  # labels and length fit, data do not
        prune(table / "scores.parquet", keep=0.5, out=out, dataset=tiny_images)

"""The validation split: a stratified, seeded hold-out of the training set that no run trains on."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datadiet.cli.main import main
from datadiet.data import from_arrays, load_dataset, split_validation
from datadiet.data.groups import apply_grouping
from datadiet.data.split import val_count
from datadiet.engine import DatasetSpec
from datadiet.errors import DataDietError
from datadiet.experiments import ScoreConfig, SweepConfig, TrainJob, run_sweep, score_dataset, train_in_run_dir
from datadiet.experiments.prune import prune, read_kept
from datadiet.models import build_model
from datadiet.reports import describe_setup, setup_bullets
from datadiet.runs import config_hash, to_jsonable
from datadiet.stages.score import read_score_table
from datadiet.tables import accuracy_table, best_on_validation, validation_ranking
from datadiet.training import TrainConfig, train

TINY = TrainConfig(model="mlp", epochs=1, batch_size=128)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def naive_accuracy(model, x, y) -> float:
    """Accuracy by a plain forward pass, one example at a time."""
    model.eval()
    with torch.no_grad():
        hits = sum(int(model(x[i : i + 1]).argmax(1).item() == int(y[i])) for i in range(len(y)))
    return hits / len(y)


# --- the split itself ---------------------------------------------------------------------------


def test_val_count_rule():
    assert val_count(0.25, 10) == 3  # 2.5 rounded half up
    assert val_count(0.2, 10) == 2
    assert val_count(0.01, 5) == 1  # at least one from a class of >= 2
    assert val_count(0.01, 2) == 1
    assert val_count(0.4, 1) == 0  # a single example is never forced out
    assert val_count(0.0, 100) == 0


def test_per_class_counts_are_exact(digits):
    for f in (0.1, 0.2, 0.33):
        s = split_validation(digits, f, seed=3)
        y = digits.y_train.numpy()
        want = [val_count(f, int((y == c).sum())) for c in range(10)]
        assert np.bincount(s.y_val.numpy(), minlength=10).tolist() == want
        assert np.bincount(s.y_train.numpy(), minlength=10).tolist() == (np.bincount(y, minlength=10) - want).tolist()
        assert s.num_val == sum(want) and s.num_train + s.num_val == digits.num_train


def test_same_seed_same_split_other_seed_other_split(digits):
    a, b, c = (split_validation(digits, 0.2, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.index_val, b.index_val)
    assert a.fingerprint == b.fingerprint
    assert not np.array_equal(a.index_val, c.index_val)
    assert a.fingerprint != c.fingerprint != digits.fingerprint


def test_val_is_disjoint_from_train_and_rows_keep_their_stable_index(digits):
    s = split_validation(digits, 0.2, seed=0)
    assert not set(s.index_train.tolist()) & set(s.index_val.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([s.index_train, s.index_val])), digits.index)
    np.testing.assert_array_equal(s.index, s.index_train)
    assert (np.diff(s.index) > 0).all() and (np.diff(s.index_val) > 0).all()
    torch.testing.assert_close(s.x_train, digits.x_train[s.index_train])
    torch.testing.assert_close(s.x_val, digits.x_train[s.index_val])
    assert torch.equal(s.y_train, digits.y_train[s.index_train])
    assert torch.equal(s.y_val, digits.y_train[s.index_val])
    torch.testing.assert_close(s.x_test, digits.x_test)  # the test set is untouched


def test_normalisation_is_the_full_training_sets(digits):
    s = split_validation(digits, 0.3, seed=0)
    assert s.mean == digits.mean and s.std == digits.std


def test_fraction_zero_is_the_dataset_itself(digits):
    assert split_validation(digits, 0.0, seed=5) is digits
    assert load_dataset("digits", val_fraction=0.0).fingerprint == digits.fingerprint
    np.testing.assert_array_equal(digits.index, np.arange(digits.num_train))
    assert digits.x_val is None and digits.num_val == 0


def test_noise_and_groups_follow_the_rows(digits):
    noisy = load_dataset("digits", label_noise=0.2, noise_seed=1)
    s = load_dataset("digits", label_noise=0.2, noise_seed=1, val_fraction=0.25, val_seed=2)
    np.testing.assert_array_equal(s.noisy, noisy.noisy[s.index_train])
    assert torch.equal(s.y_train_clean, noisy.y_train_clean[s.index_train])
    assert torch.equal(s.y_val, noisy.y_train[s.index_val])  # validation labels carry the same noise
    g = np.arange(digits.num_train) % 3
    grouped = from_arrays(
        "g",
        digits.x_train.numpy(),
        digits.y_train.numpy(),
        digits.x_test.numpy(),
        digits.y_test.numpy(),
        g_train=g,
        g_test=np.arange(digits.x_test.shape[0]) % 3,
    )
    gs = split_validation(grouped, 0.2, seed=0)
    np.testing.assert_array_equal(gs.g_train, g[gs.index_train])
    np.testing.assert_array_equal(gs.g_val, g[gs.index_val])
    bright = apply_grouping(split_validation(digits, 0.2), "brightness")
    assert bright.g_val.shape == (bright.num_val,) and set(bright.g_val.tolist()) <= {0, 1, 2, 3}


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, float("nan"), "half", True])
def test_bad_fractions_are_one_line_errors(digits, bad):
    for make in (
        lambda: split_validation(digits, bad),
        lambda: DatasetSpec("digits", val_fraction=bad),
        lambda: load_dataset("digits", val_fraction=bad),
    ):
        with pytest.raises(DataDietError, match="val_fraction") as e:
            make()
        assert "\n" not in str(e.value) and repr(bad) in str(e.value)
    with pytest.raises(DataDietError, match="val_seed"):
        DatasetSpec("digits", val_fraction=0.2, val_seed=-1)


def test_a_class_too_small_to_leave_training_data_is_refused():
    x = np.arange(24, dtype=np.float32).reshape(12, 2)
    y = np.array([0] * 10 + [1] * 2)
    ds = from_arrays("small", x, y, x[:2], y[:2], class_names=("big", "tiny"))
    with pytest.raises(DataDietError, match=r"all 2 training example\(s\) of class 'tiny'"):
        split_validation(ds, 0.8)
    assert split_validation(ds, 0.2).num_val == 2 + 1  # round(2.0) of 10, at least 1 of 2
    with pytest.raises(DataDietError, match="already has a validation part"):
        split_validation(split_validation(ds, 0.2), 0.2)


# --- keys and fingerprints ----------------------------------------------------------------------


def test_keys_are_unchanged_at_zero_and_change_above():
    plain = DatasetSpec("digits").resolve()
    zero = DatasetSpec("digits", val_fraction=0.0, val_seed=0).resolve()
    assert zero.key() == plain.key() and zero.fingerprint == plain.fingerprint
    assert to_jsonable(zero) == to_jsonable(plain) and "val_fraction" not in to_jsonable(zero)
    assert TrainJob(zero, TINY).key() == TrainJob(plain, TINY).key()
    assert config_hash(zero) == config_hash(plain)
    split = DatasetSpec("digits", val_fraction=0.2).resolve()
    assert split.key()["fingerprint"] == f"{plain.fingerprint}-val0.2s0"
    assert TrainJob(split, TINY).key() != TrainJob(plain, TINY).key()
    assert DatasetSpec("digits", val_fraction=0.2, val_seed=1).resolve().key() != split.key()


def test_a_spec_splits_in_memory_data_and_refuses_another_split(digits):
    spec = DatasetSpec(digits.name, data=digits, val_fraction=0.2, val_seed=4).resolve()
    assert spec.load().num_val == split_validation(digits, 0.2, seed=4).num_val
    other = DatasetSpec(digits.name, data=split_validation(digits, 0.1), val_fraction=0.2)
    with pytest.raises(DataDietError, match="already has a validation part"):
        other.load()


# --- training runs report validation accuracy ---------------------------------------------------


def test_a_training_run_reports_validation_accuracy(digits, tmp_path):
    s = split_validation(digits, 0.2, seed=0)
    res = train(s, TINY)
    assert res.val_accuracy == pytest.approx(naive_accuracy(res.model, s.x_val, s.y_val), abs=1e-12)
    assert res.summary()["val_accuracy"] == res.val_accuracy
    assert train(digits, TINY).val_accuracy is None and "val_accuracy" not in train(digits, TINY).summary()
    summary = train_in_run_dir(DatasetSpec("digits", val_fraction=0.2), TINY, tmp_path)
    assert summary["val_accuracy"] == pytest.approx(res.val_accuracy)  # the same run, in its run directory
    assert summary["validation"] == {"fraction": 0.2, "seed": 0, "examples": s.num_val}
    assert summary["train_size"] == s.num_train


def test_a_sweep_with_validation_reports_val_accuracy_per_row(tmp_path):
    spec = DatasetSpec("digits", val_fraction=0.2, val_seed=1)
    cfg = SweepConfig(methods=("random", "input-norm"), fractions=(0.0, 0.5), seeds=1, train=TINY)
    res = run_sweep(spec, cfg, out=tmp_path)
    ds = spec.load()
    assert "val_accuracy" in res.results.columns and res.results["val_accuracy"].notna().all()
    assert res.results["run_dir"].nunique() == 3  # full data, random 0.5, input-norm 0.5
    for _, row in res.results.drop_duplicates("run_dir").iterrows():
        net = build_model(TINY.model, ds.input_shape, ds.num_classes, width=TINY.width)
        net.load_state_dict(torch.load(Path(row["run_dir"]) / "model.pt"))  # the row's trained weights
        assert row["val_accuracy"] == pytest.approx(naive_accuracy(net, ds.x_val, ds.y_val), abs=1e-12)
    summary = json.loads((res.path / "summary.json").read_text())
    assert summary["dataset"]["validation"] == {"fraction": 0.2, "seed": 1, "examples": ds.num_val}
    report = (res.path / "report.md").read_text()
    assert (
        f"validation: {ds.num_val} examples held out of training (0.2, stratified, seed 1); choices are made on "
        "validation accuracy, test accuracy is reported"
    ) in report
    assert "Validation accuracy (%) by fraction pruned" in report and "Best on validation" in report
    assert res.overview()["val_accuracy"].keys() == res.overview()["accuracy"].keys()
    assert accuracy_table(res.results, column="val_accuracy").shape == accuracy_table(res.results).shape


def test_a_sweep_without_validation_has_no_val_column(tiny_images, tmp_path):
    cfg = SweepConfig(methods=("random",), fractions=(0.0, 0.5), seeds=1, train=TINY)
    res = run_sweep(tiny_images, cfg, out=tmp_path)
    assert "val_accuracy" not in res.results.columns and "val_accuracy" not in res.overview()
    summary = json.loads((res.path / "summary.json").read_text())
    assert "validation" not in summary["dataset"]
    assert "validation:" not in (res.path / "report.md").read_text()


# --- score tables and index files name the original examples ------------------------------------


def test_score_tables_and_index_files_use_stable_indices(tmp_path):
    spec = DatasetSpec("digits", val_fraction=0.2).resolve()
    ds = spec.load()
    res = score_dataset(spec, ScoreConfig("random", seeds=(0,)), out=tmp_path)
    table = read_score_table(res.path, dataset=ds)
    np.testing.assert_array_equal(table["index"].to_numpy(), ds.index_train)
    np.testing.assert_array_equal(read_score_table(res.path)["index"].to_numpy(), ds.index_train)  # its summary.json
    with pytest.raises(DataDietError, match="index 0..N-1"):
        read_score_table(res.path, dataset=load_dataset("digits"))  # not the unsplit data
    with pytest.raises(DataDietError, match="stable indices"):
        read_score_table(res.path, dataset=DatasetSpec("digits", val_fraction=0.2, val_seed=1).load())
    out = tmp_path / "kept.npy"
    r = prune(res.path, keep=0.5, out=out, dataset="digits", val_fraction=0.2)
    stable = np.load(out)
    assert r["kept"] == stable.size and set(stable.tolist()) <= set(ds.index_train.tolist())
    rows = read_kept(out, ds)
    np.testing.assert_array_equal(ds.index[rows], stable)
    assert not set(stable.tolist()) & set(ds.index_val.tolist())
    # without a dataset named, the split the table was scored with is read from its summary.json
    again = tmp_path / "kept_again.npy"
    assert prune(res.path, keep=0.5, out=again)["kept"] == r["kept"]
    np.testing.assert_array_equal(np.load(again), stable)


# --- choosing on validation ---------------------------------------------------------------------


def _rows():
    return pd.DataFrame(
        {
            "method": ["random", "random", "el2n", "el2n", "el2n", "el2n"],
            "fraction": [0.3, 0.3, 0.3, 0.3, 0.5, 0.5],
            "seed": [0, 1, 0, 1, 0, 1],
            "val_accuracy": [0.80, 0.82, 0.85, 0.87, 0.84, 0.86],
            "test_accuracy": [0.95, 0.95, 0.80, 0.80, 0.90, 0.90],  # test would choose random
        }
    )


def test_best_on_validation_picks_by_mean_validation_accuracy():
    best = best_on_validation(_rows())
    assert best["choice"] == {"method": "el2n", "fraction": 0.3}
    assert best["val_accuracy"] == pytest.approx(0.86) and best["test_accuracy"] == pytest.approx(0.80)
    assert best["n"] == 2 and best["val_std"] == pytest.approx(np.std([0.85, 0.87], ddof=1))
    assert best_on_validation(_rows(), "method")["choice"] == {"method": "el2n"}
    ranking = validation_ranking(_rows())
    assert ranking["val_accuracy"].tolist() == pytest.approx([0.86, 0.85, 0.81])


def test_best_on_validation_refuses_rows_without_validation_accuracy():
    with pytest.raises(DataDietError, match="no validation accuracy.*refused"):
        best_on_validation(_rows().drop(columns="val_accuracy"))
    rows = _rows()
    rows.loc[0, "val_accuracy"] = np.nan
    with pytest.raises(DataDietError, match="NaN"):
        best_on_validation(rows)
    with pytest.raises(DataDietError, match="not an accuracy"):
        best_on_validation(_rows(), "test_accuracy")
    with pytest.raises(DataDietError, match="missing column"):
        best_on_validation(_rows(), "budget")


def test_setup_lines_say_the_validation_part():
    summary = {"dataset": {"name": "digits", "validation": {"fraction": 0.2, "seed": 3, "examples": 269}}}
    text = "\n".join(setup_bullets(summary, _rows()))
    assert (
        "validation: 269 examples held out of training (0.2, stratified, seed 3); choices are made on "
        "validation accuracy, test accuracy is reported"
    ) in text
    assert "validation 0.2 held out" in describe_setup(summary)
    assert "validation" not in describe_setup({"dataset": {"name": "digits"}})


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["1", "-0.5", "nan"])
def test_cli_bad_val_fraction_is_one_line_exit_2(bad, tmp_path, capsys):
    assert main(["train", "digits", "--val-fraction", bad, "--out", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--val-fraction" in err and "[0, 1)" in err


def test_cli_train_reports_validation(tmp_path, capsys):
    args = ["train", "digits", "--model", "mlp", "--epochs", "1", "--batch-size", "128", "--out", str(tmp_path)]
    assert main([*args, "--val-fraction", "0.2", "--val-seed", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["validation"] == {
        "fraction": 0.2,
        "seed": 2,
        "examples": split_validation(load_dataset("digits"), 0.2, 2).num_val,
    }
    assert 0 <= out["val_accuracy"] <= 1
    assert main(args) == 0
    assert "validation accuracy" not in capsys.readouterr().out

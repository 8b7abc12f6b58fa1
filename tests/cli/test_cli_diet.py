"""score, prune, sweep and report from the command line."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from datadiet.cli.common import with_flags
from datadiet.cli.main import _flags
from tests.cli.conftest import last_json, run_cli


@pytest.fixture(scope="module")
def flipped_digits_npz(tmp_path_factory):
    """sklearn digits with 10% of training labels flipped to another class; returns (path, flipped mask)."""
    d = load_digits()
    rng = np.random.default_rng(123)
    perm = rng.permutation(len(d.target))
    tr, te = perm[:1400], perm[1400:]
    y = d.target[tr].copy()
    flipped = np.zeros(len(tr), bool)
    flipped[rng.choice(len(tr), 140, replace=False)] = True
    y[flipped] = (y[flipped] + rng.integers(1, 10, flipped.sum())) % 10
    path = tmp_path_factory.mktemp("npz") / "digits_flipped.npz"
    np.savez(path, x_train=d.images[tr], y_train=y, x_test=d.images[te], y_test=d.target[te])
    return path, flipped


def test_score_npz_finds_flipped_labels_and_is_deterministic(flipped_digits_npz, tmp_path):
    path, flipped = flipped_digits_npz
    args = ["score", f"npz:{path}", "--method", "el2n", "--epoch", "5", "--seeds", "4", "--model", "mlp", "--json"]
    p = run_cli(*args, "--out", tmp_path / "a")
    assert p.returncode == 0, p.stderr
    out = last_json(p)
    table = pd.read_parquet(out["scores"])
    assert {"index", "label", "score", "score_std", "seed_0", "seed_1", "seed_2", "seed_3"} <= set(table.columns)
    assert len(table) == 1400
    top = table.nlargest(140, "score")["index"].to_numpy()
    assert flipped[top].sum() > 70, flipped[top].sum()  # most flipped examples are in the top 10%
    entry = out["methods"]["el2n"]
    agreement = entry["seed_agreement"]
    assert 0 < agreement["pairwise"] <= 1 and len(agreement["leave_one_out"]) == 4
    assert entry["scored_at"] == "epoch 5 of 8"
    for f in entry["figures"]:
        assert Path(f).read_bytes()[:4] == b"\x89PNG"
    again = last_json(run_cli(*args, "--out", tmp_path / "b"))
    pd.testing.assert_frame_equal(table, pd.read_parquet(again["scores"]))


def test_score_reports_each_method(tmp_path):
    p = run_cli(
        "score",
        "digits",
        "--method",
        "loss,input-norm,random",
        "--epoch",
        "1",
        "--seeds",
        "2",
        "--model",
        "mlp",
        "--no-figures",
        "--json",
        "--out",
        tmp_path,
    )
    out = last_json(p)
    assert set(out["methods"]) == {"loss", "input-norm", "random"}
    assert out["methods"]["input-norm"]["seed_agreement"]["pairwise"] == 1.0
    assert abs(out["methods"]["random"]["seed_agreement"]["pairwise"]) < 0.1


@pytest.fixture(scope="module")
def digits_scores(tmp_path_factory):
    out = tmp_path_factory.mktemp("scores")
    p = run_cli(
        "score",
        "digits",
        "--method",
        "el2n",
        "--epoch",
        "2",
        "--seeds",
        "2",
        "--model",
        "mlp",
        "--no-figures",
        "--json",
        "--out",
        out,
    )
    return last_json(p)["scores"]


def test_prune_writes_indices_and_reports(digits_scores, tmp_path):
    out = tmp_path / "kept.npy"
    exp = tmp_path / "pruned.npz"
    p = run_cli("prune", digits_scores, "--keep", "0.4", "--out", out, "--export", exp, "--json")
    assert p.returncode == 0, p.stderr
    res = last_json(p)
    idx = np.load(out)
    table = pd.read_parquet(digits_scores)
    assert idx.dtype == np.int64 and len(idx) == round(0.4 * len(table)) == res["kept"]
    assert set(idx) == set(table.nlargest(len(idx), "score")["index"])
    assert sum(r["kept"] for r in res["per_class"]) == len(idx)
    assert res["storage"]["bytes_saved"] > 0
    z = np.load(exp)
    assert z["x_train"].shape[0] == len(idx) and np.array_equal(z["kept_index"], idx)
    bal = last_json(
        run_cli("prune", digits_scores, "--keep", "0.5", "--balanced", "--out", tmp_path / "b.txt", "--json")
    )
    fr = [r["kept_fraction"] for r in bal["per_class"]]
    assert max(fr) - min(fr) < 0.02
    assert len((tmp_path / "b.txt").read_text().split()) == bal["kept"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--keep", "1.5"], "keep must be in [0, 1], got 1.5"),
        (["--keep", "-0.1"], "keep must be in [0, 1]"),
        (["--keep", "0.5", "--strategy", "best"], "unknown strategy 'best'"),
        (["--keep", "0.5", "--dataset", "mnist1d"], "rows but mnist1d has"),
    ],
)
def test_prune_refuses_bad_input(digits_scores, tmp_path, args, message):
    p = run_cli("prune", digits_scores, *args, "--out", tmp_path / "k.npy")
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "k.npy").exists()


def test_prune_refuses_missing_and_corrupt_tables(tmp_path):
    p = run_cli("prune", tmp_path / "none.parquet", "--keep", "0.5", "--out", tmp_path / "k.npy")
    assert p.returncode == 2 and "score table not found" in p.stderr
    (tmp_path / "bad.parquet").write_bytes(b"xx")
    p = run_cli("prune", tmp_path / "bad.parquet", "--keep", "0.5", "--out", tmp_path / "k.npy")
    assert p.returncode == 2 and "corrupt score table" in p.stderr


def test_tiny_sweep_on_digits_and_report(tmp_path):
    p = run_cli(
        "sweep",
        "digits",
        "--model",
        "mlp",
        "--methods",
        "random,el2n,forgetting",
        "--fractions",
        "0,0.3,0.6",
        "--seeds",
        "2",
        "--epochs",
        "4",
        "--score-epoch",
        "2",
        "--score-seeds",
        "2",
        "--json",
        "--out",
        tmp_path,
    )
    assert p.returncode == 0, p.stderr
    out = last_json(p)
    res = pd.read_parquet(out["results"])
    assert len(res) == 3 * 3 * 2
    need = {
        "method",
        "fraction",
        "seed",
        "train_size",
        "test_accuracy",
        "class_0_accuracy",
        "class_9_accuracy",
        "scoring_examples",
        "scoring_seconds",
        "train_examples",
        "train_seconds",
    }
    assert need <= set(res.columns)
    assert set(res["train_size"]) == {1348, round(0.7 * 1348), round(0.4 * 1348)}
    # the full-data runs are shared between methods: 2 seeds x (1 full + 2 pruned fractions x 3 methods)
    assert len(list(Path(tmp_path).glob("train_*"))) == 2 * (1 + 2 * 3)
    assert len(res["run_dir"].unique()) == 2 * (1 + 2 * 3)
    assert set(res.loc[res["method"] == "forgetting", "scored_at"]) == {"", "counted over all 4 epochs"}
    assert set(res.loc[res["method"] == "el2n", "scored_at"]) == {"", "epoch 2 of 4"}
    assert res["threads"].notna().all() and res["torch"].notna().all()
    assert Path(out["plot"]).read_bytes()[:4] == b"\x89PNG"
    report = Path(out["report"]).read_text()
    assert "datadiet sweep digits" in report and "| el2n |" in report
    # two seeds establish no equivalence; summary.json lists every verdict with its interval and seeds needed
    verdicts = json.loads((Path(out["run_dir"]) / "summary.json").read_text())["verdicts"]
    matches = [v for v in verdicts if v["kind"] == "equivalent"]
    assert len(matches) == 3 * 2 and len(verdicts) >= 3 * 2 + 2 * 2
    for v in verdicts:
        assert v["verdict"] != "established" and v["n"] == 2
        assert {"claim", "estimate", "low", "high", "seeds_needed", "p_establish_adjusted"} <= set(v)
        assert v["low"] <= v["estimate"] <= v["high"]
    assert any(v["seeds_needed"] for v in matches)
    assert "## Verdicts:" in report and "not established (n=2 < 3)" in report
    assert out["verdicts"] == {"established": 0, "not established": len(verdicts), "refuted": 0}
    again = last_json(run_cli("report", Path(out["run_dir"]), "--json"))
    assert Path(again["report"]).read_text() == report


def test_sweep_steps_budget_trains_equal_steps(tmp_path):
    out = last_json(
        run_cli(
            "sweep",
            "digits",
            "--model",
            "mlp",
            "--methods",
            "random",
            "--fractions",
            "0,0.5",
            "--epochs",
            "2",
            "--budget",
            "steps",
            "--json",
            "--out",
            tmp_path,
        )
    )
    res = pd.read_parquet(out["results"])
    assert res["steps"].nunique() == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fractions", "0,1"], "fraction must be in [0, 1), got 1.0"),
        (["--fractions", "0,1.2"], "fraction must be in [0, 1)"),
        (["--fractions", "a"], "fractions must be comma-separated numbers"),
        (["--fractions", ","], "fractions must list at least one value"),
        (["--methods", ""], "methods must list at least one value"),
        (["--methods", "el2n,magic"], "unknown method 'magic'"),
        (["--budget", "hours"], "unknown budget 'hours'"),
        (["--hard-cutoff", "0.1"], "--hard-cutoff applies only to strategy 'ccs'"),
        (["--strategy", "ccs", "--hard-cutoff", "1.5"], "--hard-cutoff must be in [0, 1)"),
        (["--strategy", "ccs", "--bins", "0"], "bins must be > 0"),
    ],
)
def test_sweep_refuses_bad_input(tmp_path, args, message):
    p = run_cli("sweep", "digits", "--model", "mlp", *args, "--out", tmp_path)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_report_refuses_non_sweep_dir(tmp_path):
    p = run_cli("report", tmp_path)
    assert p.returncode == 2 and "not a finished sweep directory" in p.stderr


def test_sweep_with_dynamic_methods_and_a_proxy_counts_flops_by_hand(tmp_path):
    """The issue's command: random, RS2, InfoBatch and EL2N scored by an MLP proxy for the CNN, on digits.
    Full data costs exactly 1; the EL2N cell's cost is the hand count of its training and scoring."""
    p = run_cli(
        "sweep", "digits", "--methods", "random,rs2,infobatch,el2n", "--score-model", "mlp", "--model", "cnn",
        "--fractions", "0,0.4", "--epochs", "3", "--score-epoch", "1", "--score-seeds", "1", "--seeds", "1",
        "--out", tmp_path, "--json",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = last_json(p)
    res = pd.read_parquet(out["results"])
    assert (res.loc[res["fraction"] == 0, "flops_vs_full"] == 1.0).all()  # exactly
    n = 1348  # digits' training examples; the CNN on 8x8 inputs, counted by hand:
    # conv 1->16 3x3 pad 1 on 8x8, BN, pool to 4x4; conv 16->32 3x3 on 4x4, BN, pool to 2x2; 128 -> 128 -> 10
    cnn_fwd = 2 * (8 * 8 * 16 * 9) + 2 * (4 * 4 * 32 * 16 * 9) + 2 * (128 * 128 + 128 * 10)
    mlp_fwd = 2 * (64 * 256 + 256 * 256 + 256 * 10)  # the proxy: 64 -> 256 -> 256 -> 10
    mlp_train = 2 * mlp_fwd + 2 * (256 * 256 + 256 * 10)  # + weight grads; input grads after the first layer
    from datadiet.models.flops import flops_per_example

    assert flops_per_example("cnn", (1, 8, 8), 10, backward=False) == cnn_fwd
    cnn_train = flops_per_example("cnn", (1, 8, 8), 10, backward=True)
    kept = n - round(0.4 * n)
    el2n = res[(res["method"] == "el2n") & (res["fraction"] == 0.4)].iloc[0]
    want = (3 * kept * cnn_train + n * mlp_train + n * mlp_fwd) / (3 * n * cnn_train)
    assert el2n["flops_vs_full"] == pytest.approx(want, rel=1e-12)
    assert el2n["scored_at"] == "epoch 1 of 3"
    rs2 = res[(res["method"] == "rs2") & (res["fraction"] == 0.4)].iloc[0]
    assert rs2["scoring_flops"] == 0 and rs2["flops_vs_full"] == pytest.approx(kept / n, rel=1e-12)
    ib = res[(res["method"] == "infobatch") & (res["fraction"] == 0.4)].iloc[0]
    assert ib["scored_at"] == "dynamic, no scores" and ib["train_examples"] < 3 * n
    assert ib["flops_vs_full"] == pytest.approx(ib["train_examples"] / (3 * n), rel=1e-12)  # what it really visited
    # 3 epochs: one pruning epoch, asked to skip 1.2 N, skips at most 0.9 of the below-mean examples
    assert (ib["pruning_epochs"], ib["capped_epochs"]) == (1, 1) and ib["saved_fraction"] < 0.4
    assert ib["saved_fraction"] == pytest.approx(1 - ib["train_examples"] / (3 * n), rel=1e-12)
    report = (Path(out["results"]).parent / "report.md").read_text()
    assert f"infobatch at 40% requested saved {100 * ib['saved_fraction']:.1f}% (r capped at 0.9 in 1 of 1" in report
    assert set(out["accuracy"]) == {"random", "rs2", "infobatch", "el2n"}


def test_fashion_mnist_by_brightness_group_and_index_files(tmp_path):
    """Fashion-MNIST grouped by brightness quartile: the sweep's table and report name the worst group;
    prune's index file says what it is and train --subset refuses it on other data."""
    out = tmp_path / "runs"
    p = run_cli(
        "sweep", "fashion-mnist", "--groups", "brightness", "--model", "mlp", "--epochs", "1", "--methods", "random",
        "--fractions", "0,0.5", "--out", out, "--json",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    res = last_json(p)
    table = pd.read_parquet(res["results"])
    assert {f"group_{g}_accuracy" for g in range(4)} | {"worst_group_accuracy"} <= set(table.columns)
    assert set(res["worst_group_accuracy"]) == {"random"}
    report = Path(res["report"]).read_text()
    assert "(groups: brightness)" in report and "**Worst group**: " in report and "quarter" in report

    p = run_cli("score", "digits", "--method", "el2n", "--epoch", "1", "--epochs", "2", "--seeds", "1", "--model", "mlp",
                "--out", out, "--json")  # fmt: skip
    scores = last_json(p)["scores"]
    kept = tmp_path / "kept.npy"
    p = run_cli("prune", scores, "--keep", "0.5", "--out", kept, "--json")
    assert p.returncode == 0, p.stderr
    meta = json.loads((tmp_path / "kept.npy.json").read_text())
    assert meta["indices"] == "kept" and meta["method"] == "el2n" and meta["dataset"]["name"] == "digits"
    p = run_cli("train", "digits", "--model", "mlp", "--epochs", "1", "--subset", kept, "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    assert last_json(p)["train_size"] == meta["count"]
    p = run_cli("train", "mnist1d", "--model", "mlp", "--epochs", "1", "--subset", kept, "--out", out)
    assert p.returncode == 2 and "refusing to apply it" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("prune", scores, "--keep", "0.5", "--out", kept, "--balanced-by", "group")
    assert p.returncode == 2 and "needs groups" in p.stderr


def test_prune_balanced_by_group_shows_the_per_group_table(digits_scores, tmp_path):
    p = run_cli("prune", digits_scores, "--keep", "0.5", "--balanced-by", "group", "--groups", "brightness",
                "--out", tmp_path / "k.npy")  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 4 and cells[0].endswith("quarter"):
            rows[cells[0]] = float(cells[3])
    assert set(rows) == {"darkest quarter", "second quarter", "third quarter", "brightest quarter"}, p.stdout
    assert max(rows.values()) - min(rows.values()) < 0.5  # every group kept at the same share
    assert "┃ group " in p.stdout and "┃ class " in p.stdout
    res = last_json(run_cli("prune", digits_scores, "--keep", "0.5", "--out", tmp_path / "c.npy", "--json"))
    assert res["per_group"] is None  # no groups asked for: digits has none


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--balanced-by", "group"],
            "--balanced-by group needs groups: dataset 'digits' has none (give g_train/g_test in the npz or a "
            "grouping, e.g. --groups brightness)",
        ),
        (["--strategy", "ccs", "--hard-cutoff", "1.5"], "--hard-cutoff must be in [0, 1], got 1.5"),
        (["--balanced-by", "colour"], "unknown --balanced-by 'colour'; valid: class, group"),
    ],
)
def test_errors_name_the_flags_not_the_python_parameters(digits_scores, tmp_path, args, message):
    p = run_cli("prune", digits_scores, "--keep", "0.5", *args, "--out", tmp_path / "k.npy")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [f"datadiet: error: {message}"], p.stderr


def test_flags_replace_python_names_only_where_they_name_an_option():
    flags = _flags("prune")
    assert flags["balanced_by"] == "--balanced-by" and flags["hard_cutoff"] == "--hard-cutoff"
    assert _flags("train")["init_seed"] == "--seed"  # a config field by its flag (--seed sets init_seed)
    cases = {
        "offset applies only to strategy='window', got offset=0.1 with 'hardest'":
            "--offset applies only to --strategy window, got --offset 0.1 with 'hardest'",
        "labels are required with balanced=True, got labels=None": "labels are required with --balanced, got labels=None",
        "keep must be in [0, 1], got 1.5": "--keep must be in [0, 1], got 1.5",
        "unknown balanced_by 'x'; valid: class, group": "unknown --balanced-by 'x'; valid: class, group",
        "score table /runs/hard_cutoff/scores.parquet not found": "score table /runs/hard_cutoff/scores.parquet not found",
        "the kept examples keep their order": "the kept examples keep their order",  # English words stay
        "groups need both g_train and g_test": "groups need both g_train and g_test",
    }  # fmt: skip
    for message, shown in cases.items():
        assert with_flags(message, flags) == shown


def test_paths_are_printed_whole_on_a_narrow_terminal(tmp_path):
    """A path longer than the terminal is one line, whole (rich used to cut it at 80 columns)."""
    out = tmp_path / ("a" * 70) / ("b" * 70)
    p = run_cli("score", "digits", "--method", "el2n", "--epoch", "1", "--epochs", "1", "--seeds", "1",
                "--model", "mlp", "--no-figures", "--out", out, env={"COLUMNS": "80"})  # fmt: skip
    assert p.returncode == 0, p.stderr
    [table] = list(out.glob("score_*/scores.parquet"))
    assert f"el2n score table: {table}" in p.stdout.splitlines(), p.stdout
    kept = out / "kept.npy"
    p = run_cli("prune", table, "--keep", "0.5", "--out", kept, env={"COLUMNS": "80"})
    assert p.returncode == 0, p.stderr
    assert any(line.endswith(f"-> {kept}") for line in p.stdout.splitlines()), p.stdout

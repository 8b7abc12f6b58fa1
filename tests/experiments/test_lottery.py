"""Lottery tickets as jobs: IMP levels with rewinding, random baselines, pre-training subsets, LMC."""

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from datadiet.errors import DataDietError
from datadiet.experiments import Context, DatasetSpec, run_job
from datadiet.experiments.lottery import (
    LmcConfig,
    LotteryConfig,
    LotteryExperiment,
    pretrain_subset,
    run_lmc,
    run_lottery,
)
from datadiet.lottery import magnitude_prune
from datadiet.stages.lottery import LmcJob, RewindJob
from datadiet.training import TrainConfig, train
from tests.cli.conftest import last_json, run_cli

TCFG = TrainConfig(model="mlp", epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def cli_lottery(tmp_path_factory):
    out = tmp_path_factory.mktemp("lottery")
    proc = run_cli("lottery", "digits", "--model", "mlp", "--levels", "3", "--epochs", "4", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    return last_json(proc), out


def test_cli_lottery_levels_prune_20_percent_of_what_remains(cli_lottery):
    summary, _ = cli_lottery
    res = pd.read_parquet(summary["results"])
    imp = res[res["condition"] == "imp"].sort_values("level")
    np.testing.assert_allclose(imp["sparsity"], [0, 0.2, 0.36, 0.488], atol=2e-5)
    for cond in ("random-prune", "random-reinit"):  # the baselines at the same sparsity, levels 1..3
        b = res[res["condition"] == cond].sort_values("level")
        assert b["level"].tolist() == [1, 2, 3]
        np.testing.assert_array_equal(b["sparsity"].to_numpy(), imp["sparsity"].to_numpy()[1:])
    assert {"level", "sparsity", "test_accuracy", "condition", "replicate"} <= set(res.columns)
    assert res["test_accuracy"].between(0, 1).all()
    assert (imp["steps"] == 4 * 11).all()  # every level trains the whole schedule from the rewind step 0


def test_masked_weights_are_exactly_zero_after_training_and_masks_follow_the_previous_level(cli_lottery):
    summary, out = cli_lottery
    res = pd.read_parquet(summary["results"])
    by_level = {(r.condition, r.level): r.run_dir for r in res.itertuples()}
    for (cond, level), run_dir in by_level.items():
        masks = torch.load(f"{run_dir}/mask.pt", weights_only=True)
        state = torch.load(f"{run_dir}/model.pt", weights_only=True)
        for name, m in masks.items():
            assert (state[name][m == 0] == 0).all(), (cond, level, name)
        if cond == "imp" and level > 0:
            prev = by_level[("imp", level - 1)]
            want = magnitude_prune(
                torch.load(f"{prev}/model.pt", weights_only=True),
                torch.load(f"{prev}/mask.pt", weights_only=True),
                rate=0.2,
            )
            torch.testing.assert_close(masks, want, rtol=0, atol=0)
        if cond == "random-reinit":
            imp_masks = torch.load(f"{by_level[('imp', level)]}/mask.pt", weights_only=True)
            torch.testing.assert_close(masks, imp_masks, rtol=0, atol=0)
    assert set(masks) == {"net.1.weight", "net.3.weight", "net.5.weight"}  # biases are never pruned


def test_rewind_point_is_the_full_run_at_step_k_and_finished_levels_are_skipped(tmp_path):
    data = DatasetSpec("digits").resolve()
    ds = data.load()
    k = 7
    rewind = RewindJob(data, TCFG, k)
    run_job(rewind, Context(tmp_path))
    ref = train(ds, TCFG, checkpoint_steps=[k]).checkpoints[k]
    torch.testing.assert_close(rewind.weights(tmp_path), ref, rtol=0, atol=0)
    cfg = LotteryConfig(train=TCFG, levels=2, rewind_step=k, branches=False)
    first = run_lottery(data, cfg, out=tmp_path).results
    starts = (tmp_path / "journal.jsonl").read_text().count('"start"')
    again = run_lottery(data, cfg, out=tmp_path).results
    assert (tmp_path / "journal.jsonl").read_text().count('"start"') == starts  # nothing ran again
    pd.testing.assert_frame_equal(first, again)
    assert (first["steps"] == 2 * 43).all() and (first["rewind_step"] == k).all()


def test_pretraining_subsets_are_class_balanced_and_follow_the_scores(tmp_path):
    data = DatasetSpec("digits").resolve()
    ds = data.load()
    labels = ds.y_train.numpy()
    rnd = pretrain_subset(data, "random:200", seed=0).given_indices
    assert len(rnd) == 200 and np.bincount(labels[list(rnd)], minlength=10).max() <= 21
    scores = np.arange(ds.num_train, dtype=float)  # example i has score i
    table = pd.DataFrame({"index": np.arange(ds.num_train), "label": labels, "score": scores})
    easy = np.array(pretrain_subset(data, "easy:100", seed=0, scores=table).given_indices)
    hard = np.array(pretrain_subset(data, "hard:100", seed=0, scores=table).given_indices)
    for c in range(10):  # within each class: the lowest / highest scores
        in_c = np.flatnonzero(labels == c)
        k = (labels[easy] == c).sum()
        assert set(easy[labels[easy] == c]) == set(in_c[:k]) and set(hard[labels[hard] == c]) == set(in_c[-k:])
    cfg = LotteryConfig(train=TCFG, levels=1, rewind_step=5, pretrain="easy:100", branches=False)
    [(_, job), *_] = LotteryExperiment(data, cfg, table).jobs
    assert job.rewind.subset.given_indices == tuple(easy)
    res = run_lottery(data, cfg, out=tmp_path, scores=table).results
    assert (res["pretrain_size"] == 100).all()
    with pytest.raises(DataDietError, match="needs a score table"):
        LotteryExperiment(data, cfg).plan()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--levels", "0"], "levels must be"),
        (["--rate", "1"], r"rate must be in \(0, 1\)"),
        (["--rate", "0"], r"rate must be in \(0, 1\)"),
        (["--rewind-step", "5", "--pretrain", "random:8"], "pretrain size must be >= the batch size 128"),
        (["--rewind-step", "100000"], "rewind step must be <= the schedule's"),
        (["--pretrain", "easy:500"], "needs --rewind-step > 0"),
        (["--rewind-step", "5", "--pretrain", "easy:500"], "needs a score table"),
        (["--pretrain", "medium:5"], "unknown pretrain 'medium'"),
        (["--exclude", "nope"], "exclude names no layer"),
        (["--branch-levels", "1,x"], "branch-levels must be comma-separated whole numbers, got 'x'"),
        (["--branch-levels", "9"], r"branch-levels must be levels 1\.\.3, got 9"),
        (["--levels", "100000"], r"--levels 100000 at rate 0.2 would prune all .* prunable weights; at most \d+ level"),
        (["--levels", "40", "--rate", "0.9"], r"would prune all .* at most \d+ level"),
    ],
)
def test_bad_lottery_input_is_one_line_and_exit_2(tmp_path, args, message):
    proc = run_cli("lottery", "digits", "--model", "mlp", "--epochs", "1", "--out", tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and re.search(message, proc.stderr), proc.stderr
    assert not list(tmp_path.glob("lottery_*"))


def test_lmc_barrier_is_a_score_table_that_prune_reads(tmp_path):
    proc = run_cli(
        "lmc",
        "digits",
        "--model",
        "mlp",
        "--from-step",
        "20",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--out",
        tmp_path,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    summary = last_json(proc)
    lmc_dirs = list(tmp_path.glob("lmc_*"))
    assert len(lmc_dirs) == 1
    detail = json.loads((lmc_dirs[0] / "summary.json").read_text())
    [path] = detail["test_error_paths"]
    assert len(path) == 11
    assert detail["error_barrier"] == pytest.approx(max(path) - (path[0] + path[-1]) / 2)
    assert summary["error_barrier"] == pytest.approx(detail["error_barrier"])
    kept = tmp_path / "kept.npy"
    pr = run_cli("prune", summary["scores"], "--keep", "0.5", "--out", kept, "--json")
    assert pr.returncode == 0, pr.stderr
    assert last_json(pr)["kept"] == 674 and np.load(kept).size == 674


def test_lmc_progress_names_its_copies_not_imp_levels(tmp_path):
    """The copies an LMC run trains are LevelJobs of level 0; the progress calls them what they are,
    and the name stays out of their run directories' keys."""
    proc = run_cli("lmc", "digits", "--model", "mlp", "--from-step", "5", "--epochs", "1", "--batch-size", "64",
                   "--out", tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "done: connectivity copy 1 of 2 (seed 0, rewind 5)" in proc.stderr, proc.stderr
    assert "done: connectivity copy 2 of 2" in proc.stderr and "imp level" not in proc.stderr, proc.stderr
    data = DatasetSpec("digits").resolve()
    copy = LmcJob(data, TCFG.with_seed(0), RewindJob(data, TCFG.with_seed(0), 5)).copy(0)
    unnamed = dataclasses.replace(copy, role="")
    assert copy == unnamed and copy.key() == unnamed.key() and unnamed.describe().startswith("imp level 0")


def test_lmc_copies_share_the_rewind_point_and_differ_in_data_order(tmp_path):
    data = DatasetSpec("digits").resolve()
    res = run_lmc(data, LmcConfig(train=TCFG, from_step=10, copies=3), out=tmp_path)
    assert len(res.results) == 1 and np.isfinite(res.results["error_barrier"]).all()
    [lmc] = list(tmp_path.glob("lmc_*"))
    detail = json.loads((lmc / "summary.json").read_text())
    assert len(detail["test_error_paths"]) == 3  # pairs (0,1), (0,2), (1,2)
    job = LmcJob(data, TCFG.with_seed(0), RewindJob(data, TCFG.with_seed(0), 10), copies=3)
    assert job.key() == lmc.name
    copies = [job.copy(i) for i in range(3)]
    assert len({c.rewind.key() for c in copies}) == 1  # one starting point ...
    assert len({(c.train.order_seed, c.train.aug_seed) for c in copies}) == 3  # ... three data orders
    finals = [c.final_weights(tmp_path) for c in copies]
    assert not torch.equal(finals[0]["net.1.weight"], finals[1]["net.1.weight"])


def test_a_sweep_prunes_by_the_lmc_barrier_table_like_any_score(tmp_path):
    from datadiet.experiments import SweepConfig, run_sweep

    data = DatasetSpec("digits").resolve()
    lmc = run_lmc(data, LmcConfig(train=TCFG, from_step=10), out=tmp_path)
    method = f"table:{lmc.summary['scores']}"
    cfg = SweepConfig(methods=("random", method), fractions=(0.0, 0.5), train=TCFG)
    res = run_sweep(data, cfg, out=tmp_path).results
    cell = res[(res["method"] == method) & (res["fraction"] == 0.5)].iloc[0]
    assert cell["train_size"] == 674 and cell["scored_at"] == "from a score table"
    barrier = pd.read_parquet(lmc.summary["scores"])["score"].to_numpy()
    kept = np.load(f"{cell['run_dir']}/subset.npy")
    assert barrier[kept].min() >= np.median(barrier) - 1e-12  # the hardest half by the barrier
    with pytest.raises(DataDietError, match="score table not found"):
        run_sweep(data, SweepConfig(methods=("table:nope.parquet",), train=TCFG), out=tmp_path)


def _mlp_by_hand(state: dict, x: np.ndarray) -> np.ndarray:
    """The MLP's logits from its weights, in float64 numpy (the path evaluated without the model)."""
    h = x.reshape(len(x), -1)
    for i in (1, 3):
        h = np.maximum(h @ state[f"net.{i}.weight"].T + state[f"net.{i}.bias"], 0.0)
    return h @ state["net.5.weight"].T + state["net.5.bias"]


def test_lmc_per_example_table_and_fraction_match_the_path_evaluated_by_hand(tmp_path):
    """Every training example's train-loss barrier at the midpoint and 0-1 error barrier along the path,
    mean over the pairs of copies, and the fraction of connected examples, from the job's kept
    per-example table, against the copies' weights interpolated and evaluated by hand."""
    from itertools import combinations

    from datadiet.lottery import ALPHAS, LMC_THRESHOLD, lmc_fraction

    data = DatasetSpec("digits").resolve()
    res = run_lmc(data, LmcConfig(train=TCFG, from_step=10, copies=3), out=tmp_path)
    job = LmcJob(data, TCFG.with_seed(0), RewindJob(data, TCFG.with_seed(0), 10), copies=3)
    table = job.per_example(tmp_path)
    ds = data.load()
    x, y = ds.x_train.double().numpy(), ds.y_train.numpy()
    states = [{k: v.double().numpy() for k, v in job.copy(i).final_weights(tmp_path).items()} for i in range(3)]
    loss_b, err_b = [], []
    for a, b in combinations(states, 2):
        losses, errors = [], []
        for alpha in ALPHAS:
            z = _mlp_by_hand({k: (1 - alpha) * a[k] + alpha * b[k] for k in a}, x)
            m = z.max(axis=1, keepdims=True)
            lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
            losses.append(lse - z[np.arange(len(y)), y])
            errors.append((z.argmax(axis=1) != y).astype(float))
        mid = ALPHAS.index(0.5)
        loss_b.append(losses[mid] - 0.5 * (losses[0] + losses[-1]))
        err_b.append(np.max(errors, axis=0) - 0.5 * (errors[0] + errors[-1]))
    want_loss, want_err = np.mean(loss_b, axis=0), np.mean(err_b, axis=0)
    np.testing.assert_array_equal(table["index"].to_numpy(), ds.index)
    np.testing.assert_allclose(table["loss_barrier"].to_numpy(), want_loss, atol=1e-4)
    np.testing.assert_allclose(table["error_barrier"].to_numpy(), want_err, atol=1e-9)  # a float tie aside
    detail = job.result(tmp_path)
    assert detail["lmc_fraction"] == pytest.approx(np.mean(want_loss <= LMC_THRESHOLD), abs=2 / len(y))
    assert detail["lmc_fraction_error"] == pytest.approx(np.mean(want_err <= 0.0), abs=2 / len(y))
    t = float(np.median(want_loss))  # a threshold with examples on both sides
    assert 0.3 < np.mean(want_loss <= t) < 0.7
    assert lmc_fraction(table["loss_barrier"].to_numpy(), t) == pytest.approx(np.mean(want_loss <= t), abs=2 / len(y))
    assert res.results["lmc_fraction"].iloc[0] == detail["lmc_fraction"]  # the run's table, from the kept one
    assert res.results["lmc_fraction_error"].iloc[0] == pytest.approx(np.mean(want_err <= 0.0), abs=2 / len(y))

"""The sweep's planning, sharing and budgets, tested in-process on a tiny dataset."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from datadiet.errors import DataDietError
from datadiet.experiments import Context, SweepConfig, SweepSpec, as_spec, plan_cells, run_job, run_sweep
from datadiet.training import TrainConfig, lr_at

TCFG = TrainConfig(model="mlp", epochs=3, batch_size=32)


def test_plan_shares_the_full_data_run_between_methods():
    cfg = SweepConfig(methods=("random", "el2n", "grand"), fractions=(0.0, 0.5), seeds=2, train=TCFG)
    cells = plan_cells(cfg, 256)
    assert len(cells) == 3 * 2 * 2
    full = {c.train for c in cells if c.fraction == 0}
    assert full == {TCFG.with_seed(0), TCFG.with_seed(1)}  # one training config per seed, whatever the method
    assert len({(c.method, c.train) for c in cells if c.fraction > 0}) == 3 * 2


def test_plan_budgets():
    n = 256  # 8 steps per epoch at batch 32: the full data trains 24 steps
    for budget, steps in (("epochs", None), ("steps", 24)):
        cells = plan_cells(SweepConfig(methods=("random",), fractions=(0.0, 0.5), train=TCFG, budget=budget), n)
        pruned = [c for c in cells if c.fraction > 0]
        assert all(c.train.steps == steps for c in pruned)
        assert all(c.train.steps is None for c in cells if c.fraction == 0)  # full data: the same run under both
        assert pruned[0].train.total_steps(128) == (24 if budget == "steps" else 3 * 4)


@pytest.fixture
def lr_log(monkeypatch):
    """Records the learning rate of every optimiser step the trainer really takes."""
    log = []
    step = torch.optim.SGD.step

    def logged(self, *a, **k):
        log.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", logged)
    return log


def test_steps_budget_follows_the_full_data_lr_schedule_step_by_step(tiny_images, tmp_path, lr_log):
    cfg = SweepConfig(methods=("random",), fractions=(0.0, 0.5), seeds=1, train=TCFG, budget="steps")
    res = run_sweep(tiny_images, cfg, out=tmp_path).results
    assert res.sort_values("fraction")["steps"].tolist() == [24, 24]
    full_lrs, pruned_lrs = lr_log[:24], lr_log[24:]  # cells run in plan order: full data first
    assert len(pruned_lrs) == 24
    np.testing.assert_array_equal(pruned_lrs, full_lrs)
    np.testing.assert_array_equal(full_lrs, [lr_at(TCFG, s, 24) for s in range(24)])


def test_epochs_budget_compresses_the_schedule_into_fewer_steps(tiny_images, tmp_path, lr_log):
    cfg = SweepConfig(methods=("random",), fractions=(0.0, 0.5), seeds=1, train=TCFG, budget="epochs")
    run_sweep(tiny_images, cfg, out=tmp_path)
    assert len(lr_log) == 24 + 12
    np.testing.assert_array_equal(lr_log[24:], [lr_at(TCFG, s, 12) for s in range(12)])


def test_ccs_cell_with_a_hard_cutoff_drops_the_top_scores(tiny_images, tmp_path):
    cfg = SweepConfig(
        methods=("el2n",),
        fractions=(0.0, 0.5),
        seeds=1,
        train=TCFG,
        score_epoch=1,
        score_seeds=1,
        strategy="ccs",
        hard_cutoff=0.1,
        bins=10,
    )
    res = run_sweep(tiny_images, cfg, out=tmp_path).results
    from datadiet.experiments import score_dataset

    scores = score_dataset(tiny_images, cfg.score_config("el2n"), out=tmp_path).scores
    cell = res[res["fraction"] == 0.5].iloc[0]
    kept = np.load(f"{cell['run_dir']}/subset.npy")
    assert kept.size == 128
    top = np.argsort(-scores)[: round(0.1 * 256)]
    assert np.intersect1d(kept, top).size == 0  # the hardest 10% never trains
    uncut = SweepSpec(as_spec(tiny_images), replace(cfg, hard_cutoff=0.0))
    selection = uncut.cell_job(plan_cells(uncut.config, 256)[1]).selection
    run_job(selection, Context(tmp_path))
    no_cut = selection.indices(tmp_path)
    assert np.intersect1d(no_cut, top).size > 0  # without the cutoff some of them would


def test_resumed_sweep_reuses_every_cell(tiny_images, tmp_path):
    cfg = SweepConfig(
        methods=("random", "el2n"), fractions=(0.0, 0.5), seeds=2, train=TCFG, score_epoch=1, score_seeds=1
    )
    first = run_sweep(tiny_images, cfg, out=tmp_path).results
    dirs = sorted(tmp_path.glob("train_*"))
    assert len(dirs) == 2 * (1 + 2)
    again = run_sweep(tiny_images, cfg, out=tmp_path).results
    assert sorted(tmp_path.glob("train_*")) == dirs
    pd.testing.assert_frame_equal(first.drop(columns=["train_seconds"]), again.drop(columns=["train_seconds"]))


def test_config_refuses_options_its_strategy_ignores():
    with pytest.raises(DataDietError, match="hard_cutoff applies only to strategy 'ccs'"):
        SweepConfig(strategy="hardest", hard_cutoff=0.1)
    with pytest.raises(DataDietError, match="offset applies only to strategy 'window'"):
        SweepConfig(strategy="hardest", offset=0.1)
    with pytest.raises(DataDietError, match="epoch after @ must be a number"):
        SweepConfig(methods=("el2n@x",))


def test_flops_columns_match_a_hand_count(tiny_images, tmp_path):
    from datadiet.models.flops import flops_per_example

    # MLP 64 -> 256 -> 256 -> 4: forward 2*in*out per layer; backward the weight gradients (as much
    # again) plus the input gradients of the layers after the first
    fwd = 2 * (64 * 256 + 256 * 256 + 256 * 4)
    train_f = 2 * fwd + 2 * (256 * 256 + 256 * 4)
    assert flops_per_example("mlp", (1, 8, 8), 4, backward=False) == fwd
    assert flops_per_example("mlp", (1, 8, 8), 4, backward=True) == train_f
    cfg = SweepConfig(
        methods=("random", "el2n", "grand"), fractions=(0.0, 0.5), train=TCFG, score_epoch=1, score_seeds=2
    )
    res = run_sweep(tiny_images, cfg, out=tmp_path).results
    full = 3 * 256 * train_f  # 3 epochs over 256 examples
    assert (res.loc[res["fraction"] == 0, "flops_vs_full"] == 1.0).all()  # exactly
    rnd = res[(res["method"] == "random") & (res["fraction"] == 0.5)].iloc[0]
    assert rnd["flops_vs_full"] == pytest.approx(3 * 128 * train_f / full) == pytest.approx(0.5)
    # EL2N: the pruned run, 2 scoring runs of 1 epoch, 2 forward scoring passes over all 256 examples
    el2n = res[(res["method"] == "el2n") & (res["fraction"] == 0.5)].iloc[0]
    want = (3 * 128 * train_f + 2 * 256 * train_f + 2 * 256 * fwd) / full
    assert el2n["flops_vs_full"] == pytest.approx(want, rel=1e-12)
    grand = res[(res["method"] == "grand") & (res["fraction"] == 0.5)].iloc[0]  # GraNd's pass has a backward
    assert grand["flops_vs_full"] == pytest.approx((3 * 128 * train_f + 2 * 256 * train_f + 2 * 256 * train_f) / full)


def test_fractional_score_epochs_and_proxy_scoring(tiny_images, tmp_path):
    """el2n@0.5 scores half an epoch in (the nearest step); a proxy scores with its own model and width."""
    from datadiet.stages import CheckpointJob

    cfg = SweepConfig(
        methods=("el2n", "el2n@0.5"), fractions=(0.0, 0.5), train=replace(TCFG, model="cnn"), score_seeds=1,
        score_epoch=2.0, score_model="mlp", score_width=0.5,
    )  # fmt: skip
    assert cfg.score_epoch == 2 and isinstance(cfg.score_epoch, int)  # 2.0 and 2 name the same runs
    spec = SweepSpec(as_spec(tiny_images), cfg)
    half = spec.score_job("el2n@0.5")
    assert half.score.epoch == 0.5 and half.scored_at == "epoch 0.5 of 3"
    assert (half.score.train.model, half.score.train.width) == ("mlp", 0.5)
    ck = half.deps()[0]
    assert isinstance(ck, CheckpointJob)
    res = run_sweep(tiny_images, cfg, out=tmp_path).results
    assert run_job(ck, Context(tmp_path))["train_steps"] == 4  # 8 steps an epoch at batch 32: half is 4
    assert set(res.loc[res["fraction"] > 0, "scored_at"]) == {"epoch 2 of 3", "epoch 0.5 of 3"}
    narrow = SweepConfig(methods=("el2n",), train=replace(TCFG, width=2.0), score_width=0.25)
    assert (narrow.score_train().model, narrow.score_train().width) == ("mlp", 0.25)
    assert SweepConfig(methods=("el2n",), train=TCFG).score_train() == TCFG  # no proxy: the trained model
    with pytest.raises(DataDietError, match="whole epochs"):
        SweepConfig(methods=("forgetting@0.5",))
    with pytest.raises(DataDietError, match="score_model"):
        SweepConfig(score_model="nope")


def test_dynamic_methods_plan_no_scoring_and_keep_static_keys(tiny_images):
    from datadiet.experiments import TrainJob

    cfg = SweepConfig(methods=("random", "rs2", "infobatch"), fractions=(0.0, 0.3), train=TCFG)
    spec = SweepSpec(as_spec(tiny_images), cfg)
    jobs = spec.plan()
    assert spec.score_job("rs2") is None and spec.score_job("infobatch") is None
    dyn = [j for j in jobs if isinstance(j, TrainJob) and j.dynamic is not None]
    assert sorted(j.dynamic.method for j in dyn) == ["infobatch", "rs2"] and not any(j.deps() for j in dyn)
    static = [j for j in jobs if isinstance(j, TrainJob) and j.dynamic is None]
    assert all("dynamic" not in j.config() for j in static)  # static runs keep the keys they had
    assert len({j.key() for j in jobs}) == len(jobs) == 5  # full data, random's selection, 3 pruned runs
    with pytest.raises(DataDietError, match="needs budget 'epochs'"):
        SweepConfig(methods=("rs2",), budget="steps")


def test_infobatch_key_carries_its_rule_and_rs2_keeps_its_key(tiny_images):
    """InfoBatch's rule changed (published tail and r <= 0.9): its runs get new keys, so results made
    under the old rule are not reused; RS2's keys, and its config, stay what they were."""
    from datadiet.experiments import TrainJob
    from datadiet.runs import config_hash, to_jsonable
    from datadiet.training.dynamic import INFOBATCH_RULE, DynamicPruning

    assert to_jsonable(DynamicPruning("rs2", 0.3)) == {"method": "rs2", "fraction": 0.3}
    assert to_jsonable(DynamicPruning("infobatch", 0.3)) == {"method": "infobatch", "fraction": 0.3, "rule": 2}
    assert INFOBATCH_RULE == 2
    data = as_spec(tiny_images)
    for method, changed in (("rs2", False), ("infobatch", True)):
        job = TrainJob(data, TCFG, dynamic=DynamicPruning(method, 0.3))
        old = {"dataset": data.key(), "train": TCFG, "subset": None, "dynamic": {"method": method, "fraction": 0.3}}
        assert (job.key() != f"train_{config_hash(old)}") == changed
    with pytest.raises(DataDietError, match="epochs must be >= 3, got 2"):  # refused before any training
        SweepConfig(methods=("infobatch",), fractions=(0.0, 0.3), train=replace(TCFG, epochs=2))
    SweepConfig(methods=("infobatch",), fractions=(0.0,), train=replace(TCFG, epochs=2))  # nothing pruned
    SweepConfig(methods=("rs2",), fractions=(0.0, 0.3), train=replace(TCFG, epochs=1))


def test_infobatch_cells_report_the_saving_the_cap_allowed(tiny_images, tmp_path):
    """Asked to save 70% in 3 epochs (one pruning epoch, which would have to skip 2.1 N), InfoBatch
    skips floor(0.9 x) of its x below-mean examples: its row says what it really saved and that the
    cap cut its one pruning epoch, and the report says so in words."""
    cfg = SweepConfig(methods=("random", "infobatch"), fractions=(0.0, 0.7), seeds=1, train=TCFG)
    res = run_sweep(tiny_images, cfg, out=tmp_path)
    rows = res.results.set_index(["method", "fraction"])
    ib = rows.loc[("infobatch", 0.7)]
    n = tiny_images.num_train
    assert ib["saved_fraction"] == pytest.approx(1 - ib["train_examples"] / (3 * n), abs=1e-12)
    assert (ib["pruning_epochs"], ib["capped_epochs"]) == (1, 1)
    assert 0 < ib["saved_fraction"] <= 0.9 / 3  # at most 0.9 N skipped in one epoch of 3
    assert np.isnan(rows.loc[("random", 0.7), "saved_fraction"])  # static cells: no such column
    report = (res.path / "report.md").read_text()
    want = (
        f"infobatch at 70% requested saved {100 * ib['saved_fraction']:.1f}% (r capped at 0.9 in 1 of 1 pruning epochs)"
    )
    assert want in report

"""The lottery study's pipeline end to end on a tiny setting: gate, subsets, LMC, tables, figures, report."""

from dataclasses import replace

import pandas as pd
import pytest

from datadiet.engine import DatasetSpec
from datadiet.experiments import InProcess
from datadiet.experiments.studies.lottery import (
    MNIST1D,
    QUICK,
    Pilot,
    gate_step,
    load_study,
    run_study,
    study_markdown,
)
from datadiet.training import TrainConfig


def _gate_rows(deep_by_k: dict, *, test_shift: float = 0.0, reps=(0, 1, 2, 3)) -> pd.DataFrame:
    """IMP rows: dense (level 0) at 0.975 per replicate, the deepest level (3) at ``deep_by_k[k]`` with a
    small per-replicate jitter; test accuracy = validation accuracy + ``test_shift``."""
    rows = []
    for k, deep in deep_by_k.items():
        for r in reps:
            jitter = (-0.001, 0.001, 0.0005, -0.0005)[r]
            for level, acc in ((0, 0.975), (3, deep + jitter)):
                rows.append(
                    {"condition": "imp", "pretrain": "full", "rewind_step": k, "level": level, "replicate": r,
                     "val_accuracy": acc, "test_accuracy": acc + test_shift}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_gate_step_is_the_smallest_step_established_on_validation():
    k, info = gate_step(_gate_rows({0: 0.90, 8: 0.974, 32: 0.975}), 3)
    assert k == 8 and info["matches"] == {0: False, 8: True, 32: True} and info["established"]
    assert info["chosen_on"] == "validation" and len(info["test_verdicts"]) == 3
    assert gate_step(_gate_rows({0: 0.975, 8: 0.975}), 3)[0] is None  # k = 0 matches already: no gate
    # two replicates establish nothing: k* is provisional (validation means), and said so
    k, info = gate_step(_gate_rows({0: 0.90, 8: 0.974}, reps=(0, 1)), 3)
    assert k == 8 and not info["established"] and info["matches"] == {0: False, 8: False}


def test_gate_ignores_test_accuracy():
    rows = _gate_rows({0: 0.90, 8: 0.974, 32: 0.975})
    rows.loc[rows["rewind_step"] == 8, "test_accuracy"] -= 0.05  # test says k = 8 fails; validation decides
    assert gate_step(rows, 3)[0] == 8
    with pytest.raises(ValueError, match="val_accuracy"):
        gate_step(rows.drop(columns=["val_accuracy"]), 3)
    assert all(s.data.val_fraction > 0 for s in (MNIST1D, QUICK))


def test_tiny_study_writes_its_tables_figures_and_report(tmp_path):
    train = TrainConfig(model="mlp", epochs=2, batch_size=32, lr=0.05)
    tiny = replace(
        MNIST1D,
        data=DatasetSpec("digits", val_fraction=0.2),
        train=train,
        levels=2,
        replicates=3,
        gate_ks=(0, 5, 20),
        branch_levels=(2,),
        copies=2,
        sizes=(64,),
        size=64,
        pilots=(Pilot("tiny pilot", replace(train, lr=0.1), (0,)),),
    )
    summary = run_study(
        tiny, out=tmp_path / "runs", results=tmp_path / "results", executor=InProcess(), device="cpu", k_star=20
    )
    folder = tmp_path / "results" / tiny.name
    s, tables = load_study(folder)
    lot, lmc, examples, pilots = (tables[n] for n in ("lottery", "lmc", "lmc_examples", "pilots"))
    assert set(lot.loc[lot["pretrain"] == "full", "rewind_step"]) == {0, 5, 20} and len(lmc) >= 3 * 3
    # random baselines at every gate step, at the branch levels only
    base = lot[lot["condition"] != "imp"]
    assert set(base["rewind_step"]) == {0, 5, 20} and set(base["level"]) == {2}
    assert (folder / "gate_accuracy_vs_remaining.png").stat().st_size > 10_000
    report = (folder / "report.md").read_text()
    assert report == study_markdown(s, tables) and "| rewind step k |" in report and "**Pilots**" in report
    assert summary["k_star"] == 20 and summary["k_fail"] == 5
    sub = lot[lot["pretrain"] != "full"]  # random at k*, and every kind at k* and at k_fail
    assert set(zip(sub["rewind_step"], sub["pretrain"])) == {
        (20, "random:64"), (20, "easy:64"), (20, "hard:64"), (5, "random:64"), (5, "easy:64"), (5, "hard:64")
    }  # fmt: skip
    # every rewind point's per-example barriers are kept, one row per training example and replicate
    n_train = DatasetSpec("digits", val_fraction=0.2).load().num_train
    assert len(examples) == len(lmc) * n_train
    assert set(pilots["pilot"]) == {"tiny pilot"} and set(pilots["rewind_step"]) == {0}
    claims = {v["claim"] for v in summary["verdicts"]}
    assert "k = 0: the deepest level falls below its dense network" in claims
    assert any(c.startswith("(1) 64 random examples") for c in claims)
    assert any(c.startswith("(2) at k = 5, easy 64 beat random 64") for c in claims)
    assert [p["claim"].split(" predicts")[0] for p in summary["predictors"]][0].endswith(
        "mode connected training examples"
    )
    assert (folder / "lmc_fraction_vs_imp.png").exists() and "Claim (3)" in report
    for v in summary["verdicts"]:  # every verdict comes with its interval from the statistics core
        assert v["verdict"] in ("established", "not established", "refuted") and v["n"] == 3

"""The lottery study's pipeline end to end on a tiny setting: gate, subsets, LMC, tables, figures, report."""

from dataclasses import replace

import pandas as pd
import pytest

from datadiet.engine import DatasetSpec
from datadiet.experiments import InProcess
from datadiet.experiments.studies.lottery import FASHION, MNIST1D, gate_step, load_study, run_study, study_markdown
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
    assert all(s.data.val_fraction > 0 for s in (MNIST1D, FASHION))


def test_tiny_study_writes_its_tables_figures_and_report(tmp_path):
    tiny = replace(
        MNIST1D,
        data=DatasetSpec("digits", val_fraction=0.2),
        train=TrainConfig(model="mlp", epochs=2, batch_size=32, lr=0.05),
        levels=2,
        gate_ks=(0, 5, 20),
        sizes=(64,),
        steps_size=64,
    )
    summary = run_study(
        tiny, out=tmp_path / "runs", results=tmp_path / "results", executor=InProcess(), device="cpu", k_star=5
    )
    folder = tmp_path / "results" / tiny.name
    lot = pd.read_parquet(folder / "lottery.parquet")
    lmc = pd.read_parquet(folder / "lmc.parquet")
    assert set(lot["rewind_step"]) == {0, 5, 20} and len(lmc) >= 3 * 2
    assert (folder / "gate_accuracy_vs_remaining.png").stat().st_size > 10_000
    report = (folder / "report.md").read_text()
    assert report == study_markdown(*load_study(folder)) and "| rewind step k |" in report
    assert summary["k_star"] == 5
    sub = lot[lot["pretrain"] != "full"]  # the subset part ran: every kind, at k* and the other steps
    assert {p.split(":")[0] for p in sub["pretrain"]} == {"random", "easy", "hard"}
    assert set(sub["rewind_step"]) == {5, 20}
    assert (folder / "subset_size.png").exists() and "Spearman" in report

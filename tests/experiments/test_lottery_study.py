"""The lottery study's pipeline end to end on a tiny setting: gate, subsets, LMC, tables, figures, report."""

from dataclasses import replace

import pandas as pd

from datadiet.engine import DatasetSpec
from datadiet.experiments import InProcess
from datadiet.experiments.studies.lottery import MNIST1D, gate_step, load_study, run_study, study_markdown
from datadiet.training import TrainConfig


def test_gate_step_is_the_smallest_matching_step_where_zero_does_not():
    rows = []
    for k, deep in ((0, 0.90), (8, 0.97), (32, 0.975)):
        for level, acc in ((0, 0.975), (3, deep)):
            rows.append(
                {"condition": "imp", "pretrain": "full", "rewind_step": k, "level": level, "test_accuracy": acc}
            )
    k, info = gate_step(pd.DataFrame(rows), 3)
    assert k == 8 and info["matches"] == {0: False, 8: True, 32: True}
    rows = [r | {"test_accuracy": 0.975} for r in rows]
    assert gate_step(pd.DataFrame(rows), 3)[0] is None  # k = 0 matches already: no gate


def test_tiny_study_writes_its_tables_figures_and_report(tmp_path):
    tiny = replace(
        MNIST1D,
        data=DatasetSpec("digits"),
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

"""datadiet reproduce on a tiny setting: every finding judged, the label-noise table against a naive count."""

import json

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues

from datadiet.engine import DatasetSpec, InProcess, run_experiment
from datadiet.experiments.studies.lottery import Study
from datadiet.experiments.studies.reproduce import FINDINGS_KEYS, Reproduction, Setting
from datadiet.scores.basic import probabilities
from datadiet.training import TrainConfig

TINY = Setting(
    "reproduce-tiny",
    DatasetSpec("digits", val_fraction=0.2),
    TrainConfig(model="mlp", epochs=2, batch_size=64),
    seeds=3,
    fractions=(0.0, 0.5),
    score_seeds=3,
    early_epochs=(0.5, 1),
    noise=0.2,
    lottery=Study(
        "lottery-tiny",
        DatasetSpec("digits", val_fraction=0.2),
        TrainConfig(model="mlp", epochs=2, batch_size=32, lr=0.05),
        levels=2,
        replicates=3,
        gate_ks=(0, 5),
        branch_levels=(2,),
        copies=2,
        sizes=(64,),
    ),
)


def test_tiny_reproduction_judges_every_finding(tmp_path):
    exp = Reproduction(TINY, tmp_path / "results", "datadiet reproduce --test")
    summary = run_experiment(exp, out=tmp_path / "runs", executor=InProcess(), device="cpu").summary
    folder = tmp_path / "results" / "reproduce-tiny"
    findings = summary["findings"]
    assert {f["finding"] for f in findings} == {1, 2, 3, 4, 5, 6, 7, 9, 10, 11}
    for f in findings:
        assert f["verdict"] in ("established", "not established", "refuted") and f["n"] >= 2
        assert f["low"] <= f["estimate"] <= f["high"]
    lottery = {f["claim"] for f in findings if f["finding"] in (9, 10)}
    assert "k = 0: the deepest level falls below its dense network" in lottery
    assert any(c.startswith("(1) 64 random examples before k = ") for c in lottery)
    [lmc] = [f for f in findings if f["finding"] == 11]
    assert lmc["kind"] == "correlation positive" and lmc["n"] == 9  # 3 rewind points x 3 replicates
    # finding 7 against a naive count: the top 10% of each seed's scores, and cleanlab on the same models
    noise = pd.read_parquet(folder / "label_noise.parquet")
    job = exp.score_jobs()["noisy"][0]
    ds = job.data.load()
    table = pd.read_parquet(job.table_path(tmp_path / "runs"))
    for s in job.score.seeds:
        scores = table[f"seed_{s}"].to_numpy()
        top = np.argsort(-scores, kind="stable")[: int(round(0.1 * len(scores)))]
        naive = ds.noisy[top].sum() / ds.noisy.sum()
        got = float(noise.loc[noise["scores"] == f"seed {s}", "recall"].iloc[0])
        assert abs(got - naive) <= 1 / ds.noisy.sum() + 1e-12  # ties at the cut may add one
    probs = np.mean(
        [probabilities(job.checkpoint(s).model(tmp_path / "runs", ds), ds.x_train) for s in job.score.seeds], 0
    )
    issues = find_label_issues(ds.y_train.numpy(), probs)
    row = noise[noise["scores"] == "cleanlab find_label_issues"].iloc[0]
    assert row["flagged"] == issues.sum() and row["recall"] == (issues & ds.noisy).sum() / ds.noisy.sum()
    assert summary["seeds_advice"]["sentence"]
    report = (folder / "report.md").read_text()
    for k in FINDINGS_KEYS:
        assert f"### {k}. " in report
    assert "datadiet reproduce --test" in report and "cleanlab" in report
    assert json.loads((folder / "summary.json").read_text())["findings"] == findings

"""A sweep that scores GraNd at initialisation measures Kirsch's correlation with the input norm:
``kirsch.parquet``, summary.json and a report section, recomputed here from the scoring runs' files."""

import json

import numpy as np
import pandas as pd
import pytest

from datadiet.engine import DatasetSpec
from datadiet.experiments import SweepConfig, SweepSpec, run_sweep
from datadiet.experiments.sweep import write_report
from datadiet.reports import kirsch_markdown
from datadiet.reports.kirsch import HEADING
from datadiet.scores.basic import input_norm
from datadiet.tables import norm_correlation, norm_correlation_summary
from datadiet.training import TrainConfig

TCFG = TrainConfig(model="mlp", epochs=1, batch_size=128)
DIGITS = DatasetSpec("digits")


@pytest.mark.parametrize(
    ("methods", "score_epoch", "found"),
    [
        (("random", "grand"), 0, "grand"),
        (("el2n@0", "grand@0"), 1, "grand@0"),
        (("random", "grand"), 1, None),
        (("grand@0.5", "input-norm", "rs2"), 1, None),
    ],
)
def test_the_sweep_finds_its_grand_at_initialisation(methods, score_epoch, found):
    cfg = SweepConfig(methods=methods, fractions=(0.0, 0.5), train=TCFG, score_epoch=score_epoch)
    assert SweepSpec(DIGITS, cfg).grand_at_init() == found


def test_digits_sweep_reports_grand_at_init_against_the_input_norm(tmp_path):
    cfg = SweepConfig(
        methods=("random", "grand", "input-norm"), fractions=(0.0, 0.5), train=TCFG, score_epoch=0, score_seeds=2
    )
    res = run_sweep(DIGITS, cfg, out=tmp_path)
    summary = json.loads((res.path / "summary.json").read_text())
    stored = pd.read_parquet(res.path / "kirsch.parquet")
    assert summary["kirsch"] == str(res.path / "kirsch.parquet")

    spec = SweepSpec(DIGITS.resolve(), cfg)  # recomputed from the scoring runs' own files
    grand = pd.read_parquet(spec.score_job("grand").table_path(tmp_path))
    norms = pd.read_parquet(spec.score_job("input-norm").table_path(tmp_path))["score"].to_numpy()
    np.testing.assert_array_equal(norms, input_norm(DIGITS.load().x_train))
    again = norm_correlation(
        grand["score"].to_numpy(), norms, grand["label"].to_numpy(), per_init=[grand["seed_0"], grand["seed_1"]]
    )
    pd.testing.assert_frame_equal(stored, again)
    k = summary["grand_init_vs_input_norm"]
    assert k == json.loads(json.dumps(norm_correlation_summary(again, method="grand")))
    assert k["initialisations"] == 2 and len(k["per_init"]) == 2 and k["n"] == len(grand)
    assert len(k["per_class"]) == 10 and sum(e["n"] for e in k["per_class"].values()) == len(grand)
    assert k["init_min"] <= k["init_mean"] <= k["init_max"]

    report = (res.path / "report.md").read_text()
    section = report[report.index(f"## {HEADING}") :]
    assert f"**ρ = {k['spearman']:.3f}** over n = {k['n']}" in section
    assert f"ρ from {k['init_min']:.3f} to {k['init_max']:.3f}" in section
    for m in ("grand", "input-norm", "random"):
        assert f"| 50% | {m} | " in section
    assert "not measured" not in section
    assert write_report(res.path).read_text() == report  # redrawn from summary.json alone


def test_a_sweep_without_grand_at_init_has_no_such_section(tmp_path):
    cfg = SweepConfig(methods=("random", "input-norm"), fractions=(0.0, 0.5), train=TCFG)
    res = run_sweep(DIGITS, cfg, out=tmp_path)
    summary = json.loads((res.path / "summary.json").read_text())
    assert "grand_init_vs_input_norm" not in summary and "kirsch" not in summary
    assert not (res.path / "kirsch.parquet").exists()
    assert HEADING not in (res.path / "report.md").read_text()


def test_one_initialisation_says_the_spread_is_not_measured():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    norms = rng.gamma(2.0, 1.0, 40)
    scores = norms + rng.normal(0, 0.5, 40)
    k = norm_correlation_summary(norm_correlation(scores, norms, labels, per_init=[scores]), method="grand@0")
    results = pd.DataFrame(
        {
            "method": ["random", "random", "grand@0", "grand@0"],
            "fraction": [0.0, 0.5, 0.0, 0.5],
            "seed": [0, 0, 0, 0],
            "test_accuracy": [0.9, 0.8, 0.9, 0.7],
        }
    )
    text = "\n".join(kirsch_markdown({"grand_init_vs_input_norm": k, "class_names": ["cat", "dog"]}, results, "setup"))
    assert "1 initialisation: the spread over initialisations is not measured" in text
    assert f"**ρ = {k['spearman']:.3f}** over n = 40" in text
    assert f"| cat | 20 | {k['per_class']['0']['spearman']:.3f} |  |" in text
    assert "`input-norm` was not among the sweep's methods" in text
    assert "| 50% | grand@0 | 70.00 (n=1) | -10.00 (n=1) |" in text
    assert kirsch_markdown({}, results, "setup") == []

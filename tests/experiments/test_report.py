"""report.md: every table heading says the budget and the schedule; accuracies are mean ± std (n)."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from datadiet.errors import DataDietError
from datadiet.experiments.sweep import load_sweep, write_report
from datadiet.reports import (
    accuracy_markdown,
    cheap_and_close_sentence,
    describe_setup,
    format_difference,
    format_mean_std,
)
from datadiet.tables import amortisation, comparisons, reuses_to_pay_back, sweep_verdicts
from tests.cli.conftest import last_json, run_cli

TRAIN = {
    "model": "cnn",
    "width": 1.0,
    "epochs": 8,
    "steps": None,
    "batch_size": 128,
    "lr": 0.05,
    "schedule": "onecycle",
    "warmup": 0.2,
    "augment": None,
}


def make_summary(budget: str, **config) -> dict:
    cfg = {
        "methods": ["random", "el2n"],
        "fractions": [0.0, 0.5],
        "seeds": 3,
        "train": dict(TRAIN),
        "score_epoch": 2,
        "score_seeds": 2,
        "budget": budget,
        "strategy": "hardest",
        "offset": 0.0,
        "balanced": False,
        **config,
    }
    return {
        "dataset": {"name": "fashion-mnist", "fingerprint": "abc"},
        "class_names": ["cat", "dog", "ship"],
        "num_train": 60000,
        "config": cfg,
        "results": "results.parquet",
        "figures": {},
        "command": None,
    }


# el2n at 50% over three seeds: hand computation below
EL2N_50 = [0.90, 0.91, 0.93]
RANDOM_50 = [0.88, 0.87, 0.89]
FULL = [0.92, 0.925, 0.93]


def make_results(budget: str = "steps", extra: dict | None = None) -> pd.DataFrame:
    rows = []
    for m in ("random", "el2n"):
        for f, accs in ((0.0, FULL), (0.5, EL2N_50 if m == "el2n" else RANDOM_50)):
            for seed, acc in enumerate(accs):
                row = {
                    "method": m,
                    "fraction": f,
                    "seed": seed,
                    "budget": budget,
                    "train_size": 60000 if f == 0 else 30000,
                    "test_accuracy": acc,
                    "steps": 3752 if (f == 0 or budget == "steps") else 1880,
                    "scoring_examples": 0.0 if (f == 0 or m == "random") else 360000.0,
                    "scoring_seconds": 1.0,
                    "train_examples": 480000.0,
                    "train_seconds": 10.0,
                    "run_dir": f"runs/train_{m}{f}{seed}",
                }
                for k in range(3):
                    row[f"class_{k}_accuracy"] = acc + 0.01 * (k - 1)
                rows.append(row | (extra or {}))
    return pd.DataFrame(rows)


@pytest.fixture
def sweep_dir(tmp_path):
    d = tmp_path / "sweep_fixture"
    d.mkdir()
    make_results("steps").to_parquet(d / "results.parquet")
    (d / "summary.json").write_text(json.dumps(make_summary("steps")))
    return d


def test_describe_setup_equal_steps():
    assert describe_setup(make_summary("steps")) == (
        "fashion-mnist, cnn, 8 epochs onecycle lr 0.05, "
        "budget: equal steps (every subset trains 3,752 steps, as many as full data)"
    )


def test_describe_setup_equal_epochs():
    assert describe_setup(make_summary("epochs")) == (
        "fashion-mnist, cnn, 8 epochs onecycle lr 0.05, "
        "budget: equal epochs (a subset trains 8 passes over itself: pruning saves compute)"
    )


def test_describe_setup_prefers_the_step_count_in_the_results():
    s = make_summary("steps")
    s["num_train"] = None
    assert "every subset trains 3,752 steps" in describe_setup(s, make_results("steps"))
    assert "every subset trains as many steps as full data" in describe_setup(s)


def test_describe_setup_without_summary_json(tmp_path):
    make_results("steps").to_parquet(tmp_path / "results.parquet")
    summary, results = load_sweep(tmp_path)
    text = describe_setup(summary, results)
    assert "schedule unknown" in text
    assert "budget: equal steps (every subset trains 3,752 steps, as many as full data)" in text


def test_mean_std_format_is_ddof1_with_n():
    # hand computation: mean 91.333..., deviations -1.333, -0.333, +1.667; sum of squares 4.6667 / (3 - 1)
    assert math.isclose(np.std(EL2N_50, ddof=1) * 100, math.sqrt(4.666666 / 2), rel_tol=1e-5)
    assert format_mean_std(EL2N_50) == "91.33 ± 1.53 (n=3)"
    assert format_mean_std([0.9274]) == "92.74 (n=1)"
    assert format_mean_std([]) == ""
    assert format_difference(1.256, 2, 2) == "+1.26 (n=2)"
    assert format_difference(-0.22, 1, 2) == "-0.22 (n=1 vs 2)"


def test_report_table_headings_state_budget_and_schedule(sweep_dir):
    report = write_report(sweep_dir).read_text()
    setup = describe_setup(make_summary("steps"))
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    tables = [h for h in headings if h != "## Figures"]
    assert any(h.startswith("## Test accuracy (%) by fraction pruned") for h in tables)
    assert len(tables) >= 4  # accuracy, comparisons, per-class, compute
    for h in tables:
        assert h.endswith(setup), h
        assert "budget: equal steps" in h and "8 epochs onecycle lr 0.05" in h


def test_report_gives_mean_std_n_everywhere(sweep_dir):
    report = write_report(sweep_dir).read_text()
    assert "| el2n | 92.50 ± 0.50 (n=3) | 91.33 ± 1.53 (n=3) |" in report
    assert "| random | 92.50 ± 0.50 (n=3) | 88.00 ± 1.00 (n=3) |" in report
    assert "Full-data test accuracy (%): 92.50 ± 0.50 (n=3)" in report
    # comparisons: accuracy with its spread, differences with the seeds behind them
    assert (
        "| el2n | 50% | 91.33 ± 1.53 (n=3) | -1.17 [-2.92, +0.59] not established, ~9 seeds to refute | "
        "+3.33 [+1.39, +5.28] not established, ~4 seeds to establish |"
    ) in report
    # the paired 90% interval of el2n - random at 50%: differences +2, +4, +4 points
    d = np.array([2.0, 4.0, 4.0])
    half = sps.t.ppf(0.95, 2) * d.std(ddof=1) / np.sqrt(3)
    assert (round(d.mean() - half, 2), round(d.mean() + half, 2)) == (1.39, 5.28)
    comp = comparisons(make_results())
    r = comp[comp["method"] == "el2n"].iloc[0]
    assert r["std"] == pytest.approx(np.std(EL2N_50, ddof=1)) and r["seeds"] == 3 and r["full_seeds"] == 3


def test_report_single_seed_has_no_plus_minus(tmp_path):
    res = make_results("epochs")
    res = res[res["seed"] == 0]
    res.to_parquet(tmp_path / "results.parquet")
    (tmp_path / "summary.json").write_text(json.dumps(make_summary("epochs", seeds=1)))
    report = write_report(tmp_path).read_text()
    assert "| el2n | 92.00 (n=1) | 90.00 (n=1) |" in report
    assert not [line for line in report.splitlines() if line.startswith("|") and "±" in line]
    assert "Full-data test accuracy (%): 92.00 (n=1)" in report
    assert "budget: equal epochs (a subset trains 8 passes over itself: pruning saves compute)" in report


def test_report_with_scored_at_and_machine_columns(tmp_path):
    res = make_results("steps", extra={"torch": "2.13.0", "threads": 2, "cpu": "x86_64"})
    res["scored_at"] = np.where(res["method"] == "el2n", "epoch 2 of 8", "")
    res.to_parquet(tmp_path / "results.parquet")
    (tmp_path / "summary.json").write_text(json.dumps(make_summary("steps")))
    report = write_report(tmp_path, redraw=True).read_text()
    assert "scored: el2n (epoch 2 of 8)" in report
    assert "torch 2.13.0" in report and "threads 2" in report
    assert (tmp_path / "accuracy_vs_fraction.png").exists() and (tmp_path / "per_class_change.png").exists()


def test_report_from_results_without_summary_json(tmp_path):
    make_results("epochs").to_parquet(tmp_path / "results.parquet")
    report = write_report(tmp_path).read_text()
    heading = next(line for line in report.splitlines() if line.startswith("## Test accuracy"))
    assert "schedule unknown" in heading and "budget: equal epochs" in heading


def test_report_markdown_flag_prints_the_table(sweep_dir):
    p = run_cli("report", sweep_dir, "--markdown")
    assert p.returncode == 0, p.stderr
    summary, results = load_sweep(sweep_dir)
    assert p.stdout == accuracy_markdown(results, summary, heading=None)
    lines = p.stdout.splitlines()
    assert lines[0].startswith(
        "**Test accuracy (%) by fraction pruned: fashion-mnist, cnn, 8 epochs onecycle lr 0.05, budget: equal steps"
    )
    assert "| method | 0% | 50% |" in lines
    assert "| el2n | 92.50 ± 0.50 (n=3) | 91.33 ± 1.53 (n=3) |" in lines
    assert (sweep_dir / "report.md").exists()
    for png in ("accuracy_vs_fraction.png", "per_class_change.png", "compute_dividend.png"):
        assert (sweep_dir / png).read_bytes()[:4] == b"\x89PNG"
    both = run_cli("report", sweep_dir, "--markdown", "--json")
    assert both.returncode == 0, both.stderr
    assert "| el2n | 92.50 ± 0.50 (n=3) | 91.33 ± 1.53 (n=3) |" in both.stdout
    assert last_json(both) == {"report": str(sweep_dir / "report.md")}


def test_tiny_real_sweep_report_says_its_setup(tmp_path):
    p = run_cli(
        "sweep",
        "digits",
        "--model",
        "mlp",
        "--epochs",
        "2",
        "--fractions",
        "0,0.5",
        "--methods",
        "random,el2n",
        "--seeds",
        "3",
        "--score-epoch",
        "1",
        "--score-seeds",
        "1",
        "--json",
        "--out",
        tmp_path,
    )
    assert p.returncode == 0, p.stderr
    run_dir = last_json(p)["run_dir"]
    md = run_cli("report", run_dir, "--markdown")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith(
        "**Test accuracy (%) by fraction pruned: digits, mlp, 2 epochs onecycle lr 0.05, "
        "budget: equal epochs (a subset trains 2 passes over itself: pruning saves compute)**"
    )
    res = pd.read_parquet(f"{run_dir}/results.parquet")
    accs = res.loc[(res["method"] == "el2n") & (res["fraction"] == 0.5), "test_accuracy"]
    cell = f"{100 * accs.mean():.2f} ± {100 * accs.std(ddof=1):.2f} (n=3)"
    assert re.search(rf"^\| el2n \| [^|]+ \| {re.escape(cell)} \|$", md.stdout, re.M), md.stdout


# -- compute and amortisation ------------------------------------------------------------------------

# (method, fraction): (train FLOPs, scoring FLOPs, accuracies over 2 seeds); one full training = 100.
# By hand, S = scoring / 100, T = train / 100, R = smallest R >= 1 with S + R*T <= R:
FLOPS_CELLS = {
    ("full", 0.0): (100.0, 0.0, [0.90, 0.92]),  # accuracy 91.00
    ("random", 0.5): (50.0, 0.0, [0.90, 0.92]),  # S=0, T=.5: R=1 (no scoring); +0.00; cheapest, as accurate: front
    ("el2n", 0.5): (50.0, 120.0, [0.92, 0.93]),  # S=1.2, T=.5: 1.2/.5=2.4 -> R=3 (R=2: 2.2 > 2); the most accurate
    ("grand", 0.3): (70.0, 60.0, [0.90, 0.90]),  # S=.6, T=.7: .6/.3=2 -> R=2 (2.0 <= 2 exactly); -1.00
    ("forgetting", 0.5): (100.0, 50.0, [0.90, 0.92]),  # equal steps, T=1: never pays back
    ("infobatch", 0.3): (70.0, 0.0, [0.908, 0.908]),  # dynamic: S=0, T=.7: R=1; -0.20
    ("rs2", 0.3): (100.0, 0.0, [0.90, 0.92]),  # dynamic that saves nothing: S=0, T=1: never
}
REUSES = {"random": 1, "el2n": 3, "grand": 2, "forgetting": math.inf, "infobatch": 1, "rs2": math.inf}


def flops_results(cells=FLOPS_CELLS) -> pd.DataFrame:
    rows = []
    for (m, f), (train, scoring, accs) in cells.items():
        for seed, acc in enumerate(accs):
            rows.append(
                {
                    "method": m,
                    "fraction": f,
                    "seed": seed,
                    "budget": "epochs",
                    "train_size": int(60000 * (1 - f)),
                    "test_accuracy": acc,
                    "train_flops": train,
                    "scoring_flops": scoring,
                    "flops_vs_full": (train + scoring) / 100.0,
                }
            )
    return pd.DataFrame(rows)


def test_reuses_to_pay_back_by_hand():
    assert reuses_to_pay_back(0.0, 0.5) == 1  # no scoring: pays at once
    assert reuses_to_pay_back(0.3, 0.5) == 1  # 0.3 + 0.5 <= 1
    assert reuses_to_pay_back(1.2, 0.5) == 3
    assert reuses_to_pay_back(0.6, 0.7) == 2  # 0.6 / 0.3 is 1.9999999999999996 in floats
    assert reuses_to_pay_back(0.5, 1.0) == math.inf  # equal steps: never
    assert reuses_to_pay_back(0.0, 1.0) == math.inf  # no saving, nothing to pay back with
    assert reuses_to_pay_back(0.1, 1.2) == math.inf
    with pytest.raises(DataDietError, match="finite"):
        reuses_to_pay_back(float("nan"), 0.5)


def test_amortisation_table_by_hand():
    table = amortisation(flops_results())
    assert list(table["method"]) == ["random", "el2n", "grand", "forgetting", "infobatch", "rs2"]
    got = dict(zip(table["method"], table["reuses_to_pay_back"]))
    assert got == REUSES
    row = table.set_index("method")
    assert row.loc["el2n", "scoring_vs_full"] == pytest.approx(1.2)
    assert row.loc["el2n", "train_vs_full"] == pytest.approx(0.5)
    assert row.loc["el2n", "flops_vs_full"] == pytest.approx(1.7)
    assert row.loc["el2n", "vs_full_points"] == pytest.approx(1.5)
    assert row.loc["grand", "vs_full_points"] == pytest.approx(-1.0)
    assert row.loc["infobatch", "vs_full_points"] == pytest.approx(-0.2)
    assert row.loc["random", "vs_full_points"] == 0.0
    assert (row["seeds"] == 2).all() and (row["full_seeds"] == 2).all()
    # random 50% is as accurate as full data at half the cost: only el2n (more accurate) escapes it
    assert {m for m, on in zip(table["method"], table["pareto"]) if on} == {"random", "el2n"}
    with pytest.raises(DataDietError, match="flops"):
        amortisation(make_results())  # an older table: no FLOPs columns


def _seeded(cells: dict, jitter=(0.0005, -0.0005, 0.0003, -0.0003)) -> dict:
    """FLOPS_CELLS with four seeds: each cell's mean accuracy plus a small per-seed jitter."""
    full = [0.90, 0.91, 0.92, 0.93]
    out = {}
    for k, (train, scoring, accs) in cells.items():
        shift = float(np.mean(accs)) - 0.91
        out[k] = (train, scoring, full if k[0] == "full" else [a + shift + j for a, j in zip(full, jitter)])
    return out


def test_cheap_and_close_sentence_says_only_what_the_seeds_establish():
    results = flops_results(_seeded(FLOPS_CELLS))
    table, verdicts = amortisation(results), sweep_verdicts(results)
    said = cheap_and_close_sentence(table, verdicts)
    assert said.startswith(
        "At ≤ 0.9x the FLOPs of one full-data training (scoring included), established within ±0.3 points of "
        "full-data accuracy: **random** (50% pruned: 0.50x FLOPs, +0.00 ["
    )
    assert "**infobatch** (30% pruned: 0.70x FLOPs, -0.20 [" in said
    # the same means from two seeds establish nothing
    two = flops_results()
    said = cheap_and_close_sentence(amortisation(two), sweep_verdicts(two))
    assert said.startswith("No method at ≤ 0.9x the FLOPs of one full-data training (scoring included) is established")
    assert (
        "the nearest is **random** at 50% pruned: 0.50x FLOPs, +0.00 [+0.00, +0.00] points, not established (n=2 < 3)"
        in said
    )
    # a cheap point 0.5 points below with spread: not established either way, and the seeds that would refute it
    worse = dict(FLOPS_CELLS)
    worse[("random", 0.5)] = (50.0, 0.0, [0.88, 0.88])  # -3.00: refuted
    worse[("infobatch", 0.3)] = (70.0, 0.0, [0.905, 0.905])  # -0.50: the nearest of the cheap points
    results = flops_results(_seeded(worse, jitter=(0.004, -0.004, 0.002, -0.002)))
    said = cheap_and_close_sentence(amortisation(results), sweep_verdicts(results))
    assert said.startswith("No method at ≤ 0.9x")
    assert "the nearest is **infobatch** at 30% pruned: 0.70x FLOPs, -0.50 [" in said
    assert "not established, ~" in said and "seeds to refute." in said
    v = sweep_verdicts(results).set_index("claim")
    assert v.loc["random at 50% pruned matches full data within 0.3 points", "verdict"] == "refuted"
    dear = {k: v for k, v in FLOPS_CELLS.items() if k[0] not in ("random", "infobatch")}
    results = flops_results(_seeded(dear))
    assert cheap_and_close_sentence(amortisation(results), sweep_verdicts(results)).startswith(
        "No point costs ≤ 0.9x the FLOPs of one full-data training (scoring included); the cheapest is **rs2** at "
        "30% pruned: 1.00x FLOPs, +0.00 ["
    )


def test_report_has_the_amortisation_section(tmp_path):
    flops_results().to_parquet(tmp_path / "results.parquet")
    (tmp_path / "summary.json").write_text(json.dumps(make_summary("epochs")))
    report = write_report(tmp_path, redraw=True).read_text()
    setup = describe_setup(make_summary("epochs"), flops_results())
    assert f"## Compute and amortisation (FLOPs, scoring included): {setup}" in report
    section = report[report.index("## Compute and amortisation") :]
    for line in (
        "| full data | 0% | 1.00x (0.00 + 1.00) | 0 (reference, n=2) | – | no |",
        "| random | 50% | 0.50x (0.00 + 0.50) | +0.00 [+0.00, +0.00] not established (n=2 < 3), ~3 seeds to "
        "establish | 1 | yes |",
        "| el2n | 50% | 1.70x (1.20 + 0.50) | +1.50 [-1.66, +4.66] not established (n=2 < 3), ~6 seeds to refute | 3 "
        "| on the means only (gain over random at 50% pruned not established (n=2 < 3): +1.50 [-1.66, +4.66]) |",
        "| grand | 30% | 1.30x (0.60 + 0.70) | -1.00 [-7.31, +5.31] not established (n=2 < 3), ~22 seeds to refute "
        "| 2 | no |",
        "| infobatch | 30% | 0.70x (0.00 + 0.70) | -0.20 [-6.51, +6.11] not established (n=2 < 3), ~793 seeds to "
        "establish | 1 | no |",
    ):
        assert line in section.splitlines(), line
    assert "No method at ≤ 0.9x the FLOPs of one full-data training (scoring included) is established" in section
    assert "9 claims: 0 established, 9 not established, 0 refuted." in section
    assert "infobatch, rs2: dynamic pruning" in section
    # the figure is drawn, listed with the others and linked from the section
    png = tmp_path / "accuracy_vs_flops.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 30_000
    assert "![pareto](accuracy_vs_flops.png)" in report
    assert "[the accuracy-vs-FLOPs figure](accuracy_vs_flops.png)" in section
    headings = [line for line in report.splitlines() if line.startswith("## ") and line != "## Figures"]
    assert all(h.endswith(setup) for h in headings)


def test_report_without_flops_columns_has_no_amortisation(sweep_dir):
    report = write_report(sweep_dir, redraw=True).read_text()
    assert "Compute and amortisation" not in report and "pareto" not in report
    assert not (sweep_dir / "accuracy_vs_flops.png").exists()
    # FLOPs only on some pruned rows (a table appended to an older one): those rows are used
    res = make_results("epochs")
    res["train_flops"], res["scoring_flops"] = res["train_examples"], res["scoring_examples"]
    res["flops_vs_full"] = np.where(
        res["method"] == "el2n", (res["train_flops"] + res["scoring_flops"]) / 480000, np.nan
    )
    table = amortisation(res)
    assert list(table["method"]) == ["el2n"]
    assert table["flops_vs_full"].iloc[0] == pytest.approx(1.75)


def test_shortfall_lines_name_capped_cells_that_saved_less():
    """A dynamic cell whose r was capped and which saved less than its fraction gets one line: the
    mean saving over its runs, the capped and pruning epochs summed; the others get none."""
    from datadiet.reports.compute import shortfall_lines

    def row(method, fraction, seed, **extra):
        return {"method": method, "fraction": fraction, "seed": seed, "test_accuracy": 0.9, **extra}

    ib = {"pruning_epochs": 2}
    rows = [
        row("random", 0.0, 0),
        row("random", 0.4, 0),  # static: no such columns
        row("infobatch", 0.4, 0, saved_fraction=0.30, capped_epochs=1, **ib),
        row("infobatch", 0.4, 1, saved_fraction=0.32, capped_epochs=2, **ib),
        row("infobatch", 0.2, 0, saved_fraction=0.2, capped_epochs=0, **ib),  # not capped
        row("infobatch", 0.1, 0, saved_fraction=0.1, capped_epochs=1, **ib),  # capped, still saved its 10%
        row("rs2", 0.4, 0, saved_fraction=0.4),  # no cap
    ]
    assert shortfall_lines(pd.DataFrame(rows)) == [
        "**Dynamic pruning saved less than requested** (its FLOPs columns count what it really visited):",
        "",
        "- infobatch at 40% requested saved 31.0% (r capped at 0.9 in 3 of 4 pruning epochs; saving: mean of 2 runs)",
        "",
    ]
    one = pd.DataFrame([row("infobatch", 0.4, 0, saved_fraction=0.25, capped_epochs=1, pruning_epochs=1)])
    assert (
        shortfall_lines(one)[2] == "- infobatch at 40% requested saved 25.0% (r capped at 0.9 in 1 of 1 pruning epochs)"
    )
    assert shortfall_lines(pd.DataFrame(rows[:2])) == []  # older tables, no dynamic cells: nothing

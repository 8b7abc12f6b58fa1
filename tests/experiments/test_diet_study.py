"""The diet study end to end on digits with a tiny schedule: tables, agreement, report."""

from dataclasses import replace

import pandas as pd
import pytest

from datadiet.engine import DatasetSpec, InProcess
from datadiet.experiments.studies.diet import (
    DietStudy,
    Variant,
    choose_offsets,
    choose_variant,
    load_study,
    run_study,
    study_markdown,
)
from datadiet.experiments.sweep import SweepConfig
from datadiet.selection import ranking_agreement
from datadiet.training import TrainConfig


def _tiny(tmp_path, **more):
    main = SweepConfig(
        methods=("random",), fractions=(0.0, 0.4, 0.8), seeds=2,
        train=TrainConfig(model="cnn", epochs=3, batch_size=64), score_epoch=1, score_seeds=1,
    )  # fmt: skip
    variants = (
        Variant("reference", None, None, 1, 2),
        Variant("1 seed", None, None, 1, 1),
        Variant("mlp, half an epoch", "mlp", None, 0.5, 1),
    )
    return dict(
        out=tmp_path / "runs", results=tmp_path / "results", executor=InProcess(),
        data=DatasetSpec("digits", val_fraction=0.2), main=main, variants=variants, offsets=(0.05, 0.1),
        high=(0.8,), steps_fraction=0.4, name="digits-diet", command="datadiet study diet --test",
        dynamic=replace(main, methods=("rs2", "infobatch"), fractions=(0.0, 0.2)), **more,
    )  # fmt: skip


def test_diet_study_on_digits(tmp_path):
    kw = _tiny(tmp_path)
    variants = kw["variants"]
    summary = run_study(**kw)
    folder = tmp_path / "results" / "digits-diet"
    assert summary["study"]["jobs"] > 0 and (folder / "accuracy_vs_flops.png").exists()
    agreement = pd.read_parquet(folder / "scoring_variants.parquet")
    assert list(agreement["variant"]) == ["reference", "1 seed", "mlp, half an epoch"]
    ref = agreement.iloc[0]
    assert ref["spearman"] == 1.0 and ref["overlap_keep_0.8"] == 1.0  # the reference against itself
    # the 1-seed variant's agreement is recomputed from the two score tables on disk
    tables = sorted((tmp_path / "runs").glob("score_*/scores.parquet"))
    by_seeds = {len([c for c in pd.read_parquet(t).columns if c.startswith("seed_")]): t for t in tables}
    assert set(by_seeds) >= {1, 2}
    one = agreement.iloc[1]
    assert 0 < one["scoring_vs_full"] < ref["scoring_vs_full"]  # one seed costs less than two
    cand = [t for t in tables if "seed_1" not in pd.read_parquet(t).columns]
    full_ref = pd.read_parquet(by_seeds[2])["score"].to_numpy()
    got = {round(ranking_agreement(full_ref, pd.read_parquet(t)["score"].to_numpy())["spearman"], 12) for t in cand}
    assert round(one["spearman"], 12) in got
    mlp = agreement.iloc[2]
    assert mlp["scoring_model"] == "mlp" and mlp["score_epoch"] == 0.5
    assert mlp["scoring_vs_full"] < one["scoring_vs_full"]  # a half-epoch MLP is cheaper than the CNN
    # the scoring was chosen on validation accuracy: the best mean val_accuracy at 40% pruned
    cells = pd.read_parquet(folder / "scoring_variant_cells.parquet")
    val = cells[cells["fraction"] == 0.4].groupby("variant")["val_accuracy"].mean()
    assert agreement.loc[agreement["chosen"], "variant"].tolist() == [val.idxmax()]
    assert summary["choices"]["split"] == "validation" and summary["choices"]["scoring"] == val.idxmax()
    # the window offset at 80% was chosen on validation too, and only its cells are in the results
    window = pd.read_parquet(folder / "window_cells.parquet")
    wval = window.groupby("offset")["val_accuracy"].mean()
    assert summary["choices"]["window_offsets"] == {"0.8": float(wval.idxmax())}
    results = pd.read_parquet(folder / "results.parquet")
    assert set(results["method"]) == {"random", "rs2", "infobatch", "el2n", "el2n-window"}
    assert len(results[results["method"] == "el2n-window"]) == 2
    # verdicts: on the combined results and on the equal-steps headline, none established from 2 seeds
    assert summary["verdicts"] and all(v["verdict"] != "established" for v in summary["verdicts"])
    steps = pd.read_parquet(folder / "equal_steps.parquet")
    assert set(steps["budget"]) == {"steps"} and summary["equal_steps_verdicts"]
    report = (folder / "report.md").read_text()
    assert "## Cheaper scoring" in report and "Compute and amortisation" in report and "(chosen)**" in report
    assert "## Skipping the hardest at high pruning" in report and "## The paper's headline at equal" in report
    assert "mlp, half an epoch" in report and "datadiet study diet --test" in report
    assert study_markdown(*load_study(folder)) == report
    assert set(cells["variant"]) == {v.name for v in variants}
    assert (cells.loc[cells["fraction"] == 0, "flops_vs_full"] == 1.0).all()
    assert pytest.approx(float(agreement["seeds"].iloc[0])) == 2
    again = run_study(**kw)  # everything cached: nothing retrains, the time adds up over invocations
    assert again["study"]["invocations"] == 2 and again["study"]["seconds"] >= summary["study"]["seconds"]
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "scoring_variants.parquet"), agreement)


def test_choices_are_made_on_validation_never_on_test():
    """The studies choose on validation: their data hold a validation part, and the choosers follow it
    where validation and test disagree."""
    assert DietStudy().data.val_fraction > 0
    cells = pd.DataFrame(
        {
            "variant": ["a", "a", "b", "b"],
            "fraction": [0.4] * 4,
            "val_accuracy": [0.90, 0.92, 0.80, 0.81],
            "test_accuracy": [0.70, 0.71, 0.95, 0.96],
        }
    )
    vs = (Variant("a", None, None, 1, 1), Variant("b", None, None, 1, 1))
    assert choose_variant(cells, vs)[0].name == "a"
    window = cells.rename(columns={"variant": "offset"}).assign(offset=[0.05, 0.05, 0.1, 0.1], fraction=0.8)
    assert choose_offsets(window) == {0.8: 0.05}
    with pytest.raises(ValueError, match="validation"):
        choose_variant(cells.drop(columns=["val_accuracy"]), vs)

"""The diet study end to end on digits with a tiny schedule: tables, agreement, report."""

import pandas as pd
import pytest

from datadiet.engine import DatasetSpec, InProcess
from datadiet.experiments.studies.diet import Variant, load_study, run_study, study_markdown
from datadiet.experiments.sweep import SweepConfig
from datadiet.selection import ranking_agreement
from datadiet.training import TrainConfig


def test_diet_study_on_digits(tmp_path):
    main = SweepConfig(
        methods=("random", "rs2", "infobatch", "el2n"), fractions=(0.0, 0.4), seeds=2,
        train=TrainConfig(model="cnn", epochs=3, batch_size=64), score_epoch=1, score_seeds=1, score_model="mlp",
    )  # fmt: skip
    variants = (
        Variant("reference", None, None, 1, 2),
        Variant("1 seed", None, None, 1, 1),
        Variant("mlp, half an epoch", "mlp", None, 0.5, 1),
    )
    summary = run_study(
        out=tmp_path / "runs", results=tmp_path / "results", executor=InProcess(), data=DatasetSpec("digits"),
        main=main, variants=variants, name="digits-diet", command="datadiet study diet --test",
    )  # fmt: skip
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
    report = (folder / "report.md").read_text()
    assert "## Cheaper scoring" in report and "Compute and amortisation" in report
    assert "mlp, half an epoch" in report and "datadiet study diet --test" in report
    assert study_markdown(*load_study(folder)) == report
    cells = pd.read_parquet(folder / "scoring_variant_cells.parquet")
    assert set(cells["variant"]) == {v.name for v in variants}
    assert (cells.loc[cells["fraction"] == 0, "flops_vs_full"] == 1.0).all()
    assert pytest.approx(float(agreement["seeds"].iloc[0])) == 2
    again = run_study(
        out=tmp_path / "runs", results=tmp_path / "results", executor=InProcess(), data=DatasetSpec("digits"),
        main=main, variants=variants, name="digits-diet", command="datadiet study diet --test",
    )  # fmt: skip  # everything cached: nothing retrains, the time adds up over invocations
    assert again["study"]["invocations"] == 2 and again["study"]["seconds"] >= summary["study"]["seconds"]
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "scoring_variants.parquet"), agreement)

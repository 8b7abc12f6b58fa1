import numpy as np
import pandas as pd
import pytest

from datadiet.data import load_dataset
from datadiet.scores import ScoreConfig, read_score_table, score_dataset
from datadiet.training import TrainConfig

TCFG = TrainConfig(model="mlp", epochs=6)


@pytest.fixture(scope="module")
def noisy_digits():
    return load_dataset("digits", label_noise=0.1, noise_seed=0)


def test_el2n_finds_flipped_labels_and_is_deterministic(noisy_digits, tmp_path):
    cfg = ScoreConfig(method="el2n", epoch=5, seeds=(0, 1, 2, 3), train=TCFG)
    r = score_dataset(noisy_digits, cfg, out=tmp_path / "a")
    t = r.table
    assert list(t.columns[:4]) == ["index", "label", "score", "score_std"]
    assert {"seed_0", "seed_3", "noisy"} <= set(t.columns)
    np.testing.assert_allclose(t["score"], r.per_seed.mean(1))
    top = t.nlargest(int(0.1 * len(t)), "score")
    assert top["noisy"].mean() > 0.5  # most flipped examples rank in the top 10%
    again = score_dataset(noisy_digits, cfg, out=tmp_path / "b")
    pd.testing.assert_frame_equal(t, again.table)
    assert len(r.seed_agreement) == 4 and min(r.seed_agreement) > 0.5
    pd.testing.assert_frame_equal(read_score_table(r.path, dataset=noisy_digits), t)


def test_methods_share_one_training_run_per_seed(noisy_digits, tmp_path):
    for m in ("el2n", "grand", "loss", "margin", "forgetting", "aum"):
        score_dataset(noisy_digits, ScoreConfig(method=m, epoch=2, seeds=(0, 1), train=TCFG), out=tmp_path)
    assert len(list(tmp_path.glob("ckpt_*"))) == 2
    assert len(list(tmp_path.glob("score_*"))) == 6


def test_epoch_zero_scores_at_initialisation(noisy_digits, tmp_path):
    from datadiet.models import build_model
    from datadiet.scores import grand

    r = score_dataset(noisy_digits, ScoreConfig(method="grand", epoch=0, seeds=(0,), train=TCFG), out=tmp_path)
    cfg = TCFG.with_seed(10_000)
    model = build_model("mlp", noisy_digits.input_shape, 10, seed=cfg.init_seed)
    np.testing.assert_allclose(r.table["seed_0"], grand(model, noisy_digits.x_train, noisy_digits.y_train), rtol=1e-6)
    assert r.cost["train_examples"] == 0


def test_baselines(noisy_digits, tmp_path):
    r = score_dataset(noisy_digits, ScoreConfig(method="input-norm", epoch=0, seeds=(0, 1), train=TCFG), out=tmp_path)
    assert r.seed_agreement == [1.0, 1.0]
    r = score_dataset(noisy_digits, ScoreConfig(method="random", epoch=0, seeds=(0, 1), train=TCFG), out=tmp_path)
    assert abs(np.corrcoef(r.per_seed.T)[0, 1]) < 0.1


def test_bad_configs_and_tables(noisy_digits, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        ScoreConfig(method="vog")
    with pytest.raises(ValueError, match="epoch must be <="):
        ScoreConfig(method="el2n", epoch=20, train=TrainConfig(epochs=8))
    with pytest.raises(ValueError, match="not found"):
        read_score_table(tmp_path / "none.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"junk")
    with pytest.raises(ValueError, match="corrupt score table"):
        read_score_table(tmp_path / "bad.parquet")
    pd.DataFrame({"index": [0, 1], "label": [0, 1], "score": [0.1, 0.2]}).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(ValueError, match="has 2 rows but digits has 1348"):
        read_score_table(tmp_path / "short.parquet", dataset=noisy_digits)


def test_seed_agreement_matches_scipy():
    from scipy.stats import spearmanr

    from datadiet.scores import seed_agreement

    rng = np.random.default_rng(0)
    per_seed = rng.normal(size=(200, 3)) + rng.normal(size=(200, 1)) * 2
    want = [spearmanr(per_seed[:, k], per_seed.mean(1)).statistic for k in range(3)]
    np.testing.assert_allclose(seed_agreement(per_seed), want, rtol=1e-12)
    assert seed_agreement(np.ones((5, 2))) == [1.0, 1.0]

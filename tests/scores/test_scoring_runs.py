import numpy as np
import pandas as pd
import pytest

from datadiet.data import load_dataset
from datadiet.experiments import ScoreConfig, read_score_table, score_dataset
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
    assert len(r.seed_agreement["leave_one_out"]) == 4 and min(r.seed_agreement["leave_one_out"]) > 0.5
    assert 0.5 < r.seed_agreement["pairwise"] < 1
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
    assert r.seed_agreement == {"pairwise": 1.0, "leave_one_out": [1.0, 1.0]}
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
    pd.DataFrame({"index": [0, 1], "label": [0, -1], "score": [0.1, 0.2]}).to_parquet(tmp_path / "neg.parquet")
    with pytest.raises(ValueError, match="integer class labels >= 0"):
        read_score_table(tmp_path / "neg.parquet")
    pd.DataFrame({"index": [0, 1], "label": [0.5, 1], "score": [0.1, 0.2]}).to_parquet(tmp_path / "float.parquet")
    with pytest.raises(ValueError, match="integer class labels >= 0"):
        read_score_table(tmp_path / "float.parquet")
    pd.DataFrame({"index": [0, 1], "label": [0, 1], "score": [0.1, 0.2]}).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(ValueError, match="has 2 rows but digits has 1348"):
        read_score_table(tmp_path / "short.parquet", dataset=noisy_digits)


def test_seed_agreement_is_pairwise_and_leave_one_out():
    """Independent random seeds agree about 0, identical seeds 1: a seed is never correlated with an
    average that contains itself (which gave 0.5-0.7 for pure noise)."""
    from scipy.stats import spearmanr

    from datadiet.scores import seed_agreement

    rng = np.random.default_rng(0)
    noise = rng.random((5000, 4))
    a = seed_agreement(noise)
    assert abs(a["pairwise"]) < 0.03 and max(abs(v) for v in a["leave_one_out"]) < 0.05
    same = np.repeat(rng.random((300, 1)), 3, axis=1)
    assert seed_agreement(same) == {"pairwise": 1.0, "leave_one_out": [1.0, 1.0, 1.0]}
    per_seed = rng.normal(size=(200, 3)) + rng.normal(size=(200, 1)) * 2
    pairs = [spearmanr(per_seed[:, i], per_seed[:, j]).statistic for i, j in ((0, 1), (0, 2), (1, 2))]
    loo = [spearmanr(per_seed[:, k], np.delete(per_seed, k, 1).mean(1)).statistic for k in range(3)]
    got = seed_agreement(per_seed)
    np.testing.assert_allclose(got["pairwise"], np.mean(pairs), rtol=1e-12)
    np.testing.assert_allclose(got["leave_one_out"], loo, rtol=1e-12)
    one = seed_agreement(per_seed[:, :1])
    assert np.isnan(one["pairwise"]) and np.isnan(one["leave_one_out"][0])


def test_score_std_is_the_sample_std(noisy_digits, tmp_path):
    r = score_dataset(noisy_digits, ScoreConfig(method="el2n", epoch=1, seeds=(0, 1), train=TCFG), out=tmp_path)
    np.testing.assert_allclose(r.table["score_std"], r.per_seed.std(axis=1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(
        r.table["score_std"], np.abs(r.per_seed[:, 0] - r.per_seed[:, 1]) / np.sqrt(2), rtol=1e-9
    )
    one = score_dataset(noisy_digits, ScoreConfig(method="el2n", epoch=1, seeds=(0,), train=TCFG), out=tmp_path)
    assert one.table["score_std"].isna().all()  # one seed has no spread to report


def test_dynamic_scores_count_over_the_whole_schedule_unless_asked(noisy_digits, tmp_path):
    from datadiet.scores import AUMHook, ForgettingHook, parse_method
    from datadiet.training import train

    assert parse_method("forgetting", score_epoch=2) == ("forgetting", None)
    assert parse_method("aum@3", score_epoch=2) == ("aum", 3)
    assert parse_method("el2n", score_epoch=2) == ("el2n", 2)
    full = ScoreConfig(method="forgetting", seeds=(0,), train=TCFG)
    assert full.epoch == TCFG.epochs and full.scored_at == f"counted over all {TCFG.epochs} epochs"
    assert (
        ScoreConfig(method="aum", epoch=2, seeds=(0,), train=TCFG).scored_at
        == f"counted over epochs 0-2 of {TCFG.epochs}"
    )
    r = score_dataset(noisy_digits, full, out=tmp_path)
    hooks = [ForgettingHook(noisy_digits.num_train), AUMHook(noisy_digits.num_train)]
    train(noisy_digits, full.seed_config(0), hooks=hooks)  # the whole schedule, by hand
    np.testing.assert_array_equal(r.table["seed_0"], hooks[0].scores())


def test_margin_is_in_probabilities_and_logit_margin_in_logits(noisy_digits, tmp_path):
    import torch

    from datadiet.models import build_model
    from datadiet.scores import logit_margin, margin

    model = build_model("mlp", noisy_digits.input_shape, 10, seed=3)
    x, y = noisy_digits.x_train[:200], noisy_digits.y_train[:200]
    with torch.no_grad():
        logits = model.eval()(x).double()
    p = torch.softmax(logits, 1)
    want_p, want_l = [], []
    for i in range(200):  # naive: max over wrong classes minus the true class
        wrong = [c for c in range(10) if c != int(y[i])]
        want_p.append(max(float(p[i, c]) for c in wrong) - float(p[i, y[i]]))
        want_l.append(max(float(logits[i, c]) for c in wrong) - float(logits[i, y[i]]))
    np.testing.assert_allclose(margin(model, x, y), want_p, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(logit_margin(model, x, y), want_l, rtol=1e-6, atol=1e-9)
    assert np.all(np.abs(margin(model, x, y)) <= 1)
    r = score_dataset(noisy_digits, ScoreConfig(method="logit-margin", epoch=1, seeds=(0,), train=TCFG), out=tmp_path)
    q = score_dataset(noisy_digits, ScoreConfig(method="margin", epoch=1, seeds=(0,), train=TCFG), out=tmp_path)
    assert not np.allclose(r.scores, q.scores) and np.all(np.abs(q.scores) <= 1)

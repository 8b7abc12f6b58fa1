"""The loop tracker against the built-in scoring runs on the same training, and its input checks."""

import numpy as np
import pytest
import torch

from datadiet.errors import DataDietError
from datadiet.experiments import ScoreConfig, score_dataset
from datadiet.models import build_model
from datadiet.scores.tracker import Tracker
from datadiet.training import TrainConfig, train

CFG = TrainConfig(model="mlp", epochs=3, batch_size=32)


class Feed:
    """A batch hook that hands each training batch to a tracker, as a user's loop would."""

    def __init__(self, tracker):
        self.tracker = tracker

    def on_batch(self, step, epoch, indices, logits, targets):
        self.tracker.update(indices, logits, targets)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_tracker_equals_the_builtin_scoring_runs(tiny_images, tmp_path):
    """Seed 0 of a scoring run trains with config.seed_config(0); the same training fed to a tracker
    gives the same EL2N at epoch 1, forgetting and AUM over all 3 epochs."""
    ds = tiny_images
    builtin = {
        m: score_dataset(ds, ScoreConfig(method=m, epoch=e, seeds=(0,), train=CFG), out=tmp_path).per_seed[:, 0]
        for m, e in (("el2n", 1), ("grand", 1), ("forgetting", 3), ("aum", 3))
    }
    tcfg = ScoreConfig(method="el2n", epoch=1, seeds=(0,), train=CFG).seed_config(0)
    tracker = Tracker(ds.num_train, score_epoch=1, methods=("el2n", "grand"))
    spe = tcfg.steps_per_epoch(ds.num_train)
    res = train(ds, tcfg, hooks=[Feed(tracker)], checkpoint_steps=[spe])
    model = build_model("mlp", ds.input_shape, ds.num_classes, seed=tcfg.init_seed)
    model.load_state_dict(res.checkpoints[spe])  # the model at the end of epoch 1, as end_epoch sees it
    tracker.score_now(model, ds.x_train, ds.y_train)
    np.testing.assert_array_equal(tracker.scores("el2n"), builtin["el2n"])
    np.testing.assert_array_equal(tracker.scores("grand"), builtin["grand"])
    np.testing.assert_array_equal(tracker.scores("forgetting"), builtin["forgetting"])
    np.testing.assert_array_equal(tracker.scores("aum"), builtin["aum"])


def test_tracker_in_a_plain_loop_scores_at_its_epoch_and_resumes(tiny_images):
    ds = tiny_images
    torch.manual_seed(0)
    model = build_model("mlp", ds.input_shape, ds.num_classes, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = Tracker(ds.num_train, score_epoch=2)
    saved = None
    for epoch in range(3):
        for idx in torch.randperm(ds.num_train).split(64):
            logits = model(ds.x_train[idx])
            loss = torch.nn.functional.cross_entropy(logits, ds.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tracker.update(idx, logits, ds.y_train[idx])
        if epoch == 0:
            with pytest.raises(DataDietError, match="scored at the end of epoch 2"):
                tracker.scores("el2n")
        if epoch == 1:
            with pytest.raises(DataDietError, match="needs the model"):
                Tracker(ds.num_train, score_epoch=1).end_epoch()
        tracker.end_epoch(model, ds.x_train, ds.y_train)
        if epoch == 1:
            from datadiet.scores import el2n

            np.testing.assert_array_equal(tracker.scores("el2n"), el2n(model, ds.x_train, ds.y_train))
            saved = tracker.state_dict()
    assert tracker.scored_at == 2 and tracker.epoch == 3
    assert np.isfinite(tracker.scores("forgetting")).all() and np.isfinite(tracker.scores("aum")).all()
    again = Tracker(ds.num_train, score_epoch=2)
    again.load_state_dict(saved)
    np.testing.assert_array_equal(again.scores("el2n"), tracker.scores("el2n"))


@pytest.mark.parametrize(
    "indices,logits,labels,match",
    [
        ([0, 1], torch.zeros(2, 3), [0], "update needs indices"),
        ([0, 9], torch.zeros(2, 3), [0, 1], r"indices must be in \[0, 5\)"),
        ([0, 1], torch.zeros(2, 3), [0, 3], r"labels must be in \[0, 3\)"),
        ([0, 1], torch.full((2, 3), float("nan")), [0, 1], "finite"),
        ([0.0, 1.0], torch.zeros(2, 3), [0, 1], "integer"),
    ],
)
def test_tracker_refuses_bad_batches(indices, logits, labels, match):
    with pytest.raises(DataDietError, match=match):
        Tracker(5).update(indices, logits, labels)
    with pytest.raises(DataDietError, match="method"):
        Tracker(5, methods=("nope",))

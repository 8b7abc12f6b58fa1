import numpy as np
import pytest
import torch

from datadiet.data import Augment, load_dataset
from datadiet.experiments import RunDirCheckpointer
from datadiet.training import TrainConfig, epoch_permutation, lr_at, train
from datadiet.training.augment import augment_batch

CFG = TrainConfig(model="mlp", epochs=3, batch_size=32, lr=0.05)


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_digits_mlp_learns():
    r = train(load_dataset("digits"), TrainConfig(model="mlp", epochs=5))
    assert r.test_accuracy >= 0.9
    assert len(r.per_class_accuracy) == 10 and min(r.per_class_accuracy) > 0.6


def test_deterministic(tiny_images):
    a = train(tiny_images, CFG)
    b = train(tiny_images, CFG)
    assert _same_weights(a.model, b.model) and a.test_accuracy == b.test_accuracy


def test_seeds_are_separate(tiny_images):
    base = train(tiny_images, CFG)
    for field in ("init_seed", "order_seed", "aug_seed"):
        other = train(tiny_images, TrainConfig(**{**CFG.__dict__, field: 1}))
        assert not _same_weights(base.model, other.model), field


def test_resume_equals_uninterrupted(tiny_images, tmp_path):
    cfg = TrainConfig(model="cnn", epochs=3, batch_size=32)
    full = train(tiny_images, cfg)
    part = train(tiny_images, cfg, checkpointer=RunDirCheckpointer(tmp_path), stop_at=13)  # mid-epoch
    assert part.steps == 13 and (tmp_path / "state.pt").exists()
    rest = train(tiny_images, cfg, checkpointer=RunDirCheckpointer(tmp_path))
    assert rest.steps == full.steps
    assert _same_weights(full.model, rest.model)
    assert rest.test_accuracy == full.test_accuracy


def test_stop_at_is_an_absolute_step_on_resume(tiny_images, tmp_path):
    """A run that stops at step 12 of its schedule stops there however often it was resumed (a
    relative budget would train 12 more steps after the resume)."""
    cfg = TrainConfig(model="mlp", epochs=3, batch_size=32)  # 8 steps per epoch
    straight = train(tiny_images, cfg, stop_at=12)
    train(tiny_images, cfg, checkpointer=RunDirCheckpointer(tmp_path), stop_at=8)  # "killed" after its first epoch
    resumed = train(tiny_images, cfg, checkpointer=RunDirCheckpointer(tmp_path), stop_at=12)
    assert straight.steps == resumed.steps == 12
    assert _same_weights(straight.model, resumed.model)
    again = train(
        tiny_images, cfg, checkpointer=RunDirCheckpointer(tmp_path), stop_at=12
    )  # resumed at its stopping step: no more training
    assert again.steps == 12 and _same_weights(straight.model, again.model)


class Recorder:
    def __init__(self):
        self.seen = []

    def on_batch(self, step, epoch, indices, logits, targets):
        self.seen.append((epoch, indices.clone(), logits.shape, targets.clone()))

    def state_dict(self):
        return {}

    def load_state_dict(self, s):
        pass


def test_subset_hooks_see_each_subset_example_once_per_epoch(tiny_images):
    subset = np.arange(0, 256, 3)
    rec = Recorder()
    r = train(tiny_images, CFG, subset=subset, hooks=[rec])
    assert r.train_size == len(subset)
    for e in range(3):
        idx = torch.cat([i for (ep, i, _, _) in rec.seen if ep == e])
        assert sorted(idx.tolist()) == subset.tolist()
    for _, i, shape, t in rec.seen:
        assert shape == (len(i), 4)
        assert torch.equal(t, tiny_images.y_train[i])
    assert r.examples_seen == 3 * len(subset)


def test_equal_steps_budget(tiny_images):
    cfg = TrainConfig(model="mlp", steps=20, batch_size=32)
    r = train(tiny_images, cfg, subset=np.arange(64))
    assert r.steps == 20 and r.epochs == 10


def test_checkpoints_and_masks(tiny_images, tmp_path):
    r = train(tiny_images, CFG, checkpoint_steps=[0, 5], checkpointer=RunDirCheckpointer(tmp_path))
    assert sorted(r.checkpoints) == [0, 5]
    assert (tmp_path / "checkpoints" / "step_0000005.pt").exists()
    w = r.model.state_dict()["net.1.weight"]
    assert not torch.equal(r.checkpoints[0]["net.1.weight"], w)
    mask = (torch.rand_like(w) > 0.5).float()
    m = train(tiny_images, CFG, init_state=r.checkpoints[5], masks={"net.1.weight": mask})
    assert torch.all(m.model.state_dict()["net.1.weight"][mask == 0] == 0)


def test_bad_subset(tiny_images):
    with pytest.raises(ValueError, match="subset must lie in"):
        train(tiny_images, CFG, subset=[0, 999])
    with pytest.raises(ValueError, match="at least one"):
        train(tiny_images, CFG, subset=np.array([], dtype=np.int64))


def test_config_validation():
    with pytest.raises(ValueError, match="epochs must be > 0, got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="unknown schedule"):
        TrainConfig(schedule="linear")


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "step", "constant"])
def test_schedules(schedule):
    cfg = TrainConfig(schedule=schedule, lr=0.1)
    lrs = [lr_at(cfg, s, 100) for s in range(100)]
    assert max(lrs) == pytest.approx(0.1) and min(lrs) >= 0
    if schedule in ("onecycle", "cosine"):
        assert lrs[0] < lrs[19] and lrs[-1] < 0.01


def test_permutation_depends_on_seed_and_epoch():
    a = epoch_permutation(50, 0, 0)
    assert torch.equal(a, epoch_permutation(50, 0, 0))
    assert not torch.equal(a, epoch_permutation(50, 0, 1))
    assert not torch.equal(a, epoch_permutation(50, 1, 0))


def test_augment_crop_matches_naive_window():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    aug = Augment(crop_padding=2, flip=False)
    out = augment_batch(x, aug, torch.Generator().manual_seed(0))
    shifts = torch.randint(0, 5, (2, 2), generator=torch.Generator().manual_seed(0))
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        dy, dx = int(shifts[0, b]), int(shifts[1, b])
        assert torch.equal(out[b], xp[b, :, dy : dy + 5, dx : dx + 5])


def test_augment_flip_only_flips():
    x = torch.randn(64, 1, 4, 4)
    out = augment_batch(x, Augment(flip=True), torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    same = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or s for f, s in zip(flipped, same)) and 10 < sum(flipped) < 54


class _Recorder:
    """A batch hook that records every step's example indices."""

    def __init__(self):
        self.steps, self.batches = [], []

    def on_batch(self, step, epoch, indices, logits, targets):
        self.steps.append(step)
        self.batches.append(indices.clone())

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_start_step_resumes_the_schedule_and_data_order_of_that_step(tiny_images, monkeypatch):
    cfg = TrainConfig(model="mlp", epochs=3, batch_size=32, augment=True)  # 8 steps per epoch, 24 in all
    k = 11  # mid-epoch: epoch 1, batch 3
    lrs = []
    step_fn = torch.optim.SGD.step

    def logged(self, *a, **kw):
        lrs.append(self.param_groups[0]["lr"])
        return step_fn(self, *a, **kw)

    monkeypatch.setattr(torch.optim.SGD, "step", logged)
    full_hook = _Recorder()
    full = train(tiny_images, cfg, hooks=[full_hook], checkpoint_steps=[k])
    full_lrs, lrs[:] = list(lrs), []
    hook = _Recorder()
    rewound = train(tiny_images, cfg, hooks=[hook], init_state=full.checkpoints[k], start_step=k)
    assert hook.steps == list(range(k, 24)) and rewound.steps == 24
    for got, want in zip(hook.batches, full_hook.batches[k:]):
        assert torch.equal(got, want)  # the data order of steps k..T-1 of the full run
    assert lrs == full_lrs[k:] == [lr_at(cfg, s, 24) for s in range(k, 24)]  # not restarted at step 0
    assert rewound.examples_seen == 256 * 3 - (256 + 3 * 32)


def test_masked_weights_stay_exactly_zero_with_momentum_and_weight_decay(tiny_images):
    cfg = TrainConfig(model="mlp", epochs=2, batch_size=32, momentum=0.9, weight_decay=5e-2)
    init = train(tiny_images, TrainConfig(model="mlp", epochs=1, batch_size=32)).model.state_dict()
    g = torch.Generator().manual_seed(0)
    masks = {n: (torch.rand(v.shape, generator=g) < 0.5).float() for n, v in init.items() if n.endswith("weight")}
    res = train(tiny_images, cfg, init_state=init, masks=masks, start_step=3)
    state = res.model.state_dict()
    for n, m in masks.items():
        assert (state[n][m == 0] == 0).all()  # exactly zero, not small
        assert not torch.equal(state[n][m == 1], init[n][m == 1])  # the rest trained
    with pytest.raises(Exception, match="does not fit the model"):
        train(tiny_images, cfg, masks={"net.1.weight": torch.ones(3)})
    with pytest.raises(Exception, match="start_step must be <="):
        train(tiny_images, cfg, start_step=10_000)

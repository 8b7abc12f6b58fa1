"""Forgetting events and AUM from the trainer's hooks against naive bookkeeping of their definitions."""

import numpy as np
import torch

from datadiet.experiments import RunDirCheckpointer
from datadiet.scores import AUMHook, ForgettingHook
from datadiet.training import TrainConfig, train


class Log:
    def __init__(self):
        self.events = []

    def on_batch(self, step, epoch, indices, logits, targets):
        self.events.append((indices.tolist(), logits.clone(), targets.tolist()))

    def state_dict(self):
        return {}

    def load_state_dict(self, s):
        pass


def test_hooks_match_naive_definitions(tiny_images):
    n = tiny_images.num_train
    f, a, log = ForgettingHook(n), AUMHook(n), Log()
    subset = np.arange(0, n, 2)
    train(tiny_images, TrainConfig(model="cnn", epochs=4, batch_size=16, lr=0.2), subset=subset, hooks=[f, a, log])
    history = {i: [] for i in range(n)}
    margins = {i: [] for i in range(n)}
    for idx, logits, tgt in log.events:
        for row, (i, t) in enumerate(zip(idx, tgt)):
            z = logits[row].double().tolist()
            history[i].append(int(np.argmax(z)) == t)
            margins[i].append(z[t] - max(v for k, v in enumerate(z) if k != t))
    want_f, want_a = [], []
    for i in range(n):
        h = history[i]
        if not h:
            want_f.append(np.nan)
            want_a.append(np.nan)
            continue
        forgets = sum(1 for p, c in zip(h, h[1:]) if p and not c)
        want_f.append(forgets if any(h) else len(h) + 1)
        want_a.append(-np.mean(margins[i]))
    np.testing.assert_allclose(f.scores(), want_f, rtol=1e-12)
    np.testing.assert_allclose(a.scores(), want_a, rtol=1e-9)
    assert np.isnan(f.scores()[1]) and not np.isnan(f.scores()[0])


def test_never_learned_ranks_above_every_learned_example():
    f = ForgettingHook(3)
    logits_right = torch.tensor([[5.0, 0.0]] * 3)
    logits_wrong = torch.tensor([[0.0, 5.0]] * 3)
    y = torch.zeros(3, dtype=torch.long)
    # example 0 forgotten twice, example 1 learned once, example 2 never learned
    for pattern in ([1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]):
        z = torch.stack([logits_right[i] if pattern[i] else logits_wrong[i] for i in range(3)])
        f.on_batch(0, 0, torch.arange(3), z, y)
    s = f.scores()
    assert s[0] == 2 and s[1] == 1 and s[2] == 6
    g = ForgettingHook(3)
    g.load_state_dict(f.state_dict())
    assert np.array_equal(g.scores(), s)


def test_hooks_resume_exactly(tiny_images, tmp_path):
    cfg = TrainConfig(model="mlp", epochs=3, batch_size=32)
    full = [ForgettingHook(256), AUMHook(256)]
    train(tiny_images, cfg, hooks=full)
    part = [ForgettingHook(256), AUMHook(256)]
    train(tiny_images, cfg, hooks=part, checkpointer=RunDirCheckpointer(tmp_path), stop_at=10)
    rest = [ForgettingHook(256), AUMHook(256)]
    train(tiny_images, cfg, hooks=rest, checkpointer=RunDirCheckpointer(tmp_path))
    for a, b in zip(full, rest):
        np.testing.assert_array_equal(a.scores(), b.scores())

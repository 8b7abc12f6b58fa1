"""The trainer on a lazy source: batches read through a DataLoader (with and without worker
processes) in the same index lists as in memory give bitwise the in-memory weights and accuracies."""

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from datadiet.data import Augment, load_dataset
from datadiet.data.sources import NpySource
from datadiet.errors import DataDietError
from datadiet.experiments import RunDirCheckpointer
from datadiet.training import TrainConfig, train
from datadiet.training.dynamic import DynamicPruning
from datadiet.training.evaluation import predict_logits
from datadiet.training.feed import predict_source

CFG = TrainConfig(model="mlp", epochs=2, batch_size=32, lr=0.05)
N_TRAIN, N_TEST = 300, 70


@pytest.fixture(scope="module")
def npy_dir(tmp_path_factory):
    """300 + 70 learnable 8x8 uint8 images (class = the bright quadrant) as npy:DIR."""
    rng = np.random.default_rng(0)
    d = tmp_path_factory.mktemp("npy")
    for part, n in (("train", N_TRAIN), ("test", N_TEST)):
        y = rng.integers(0, 4, n)
        x = rng.integers(0, 120, (n, 8, 8)).astype(np.uint8)
        for i, c in enumerate(y):
            r, k = divmod(int(c), 2)
            x[i, r * 4 : (r + 1) * 4, k * 4 : (k + 1) * 4] += 100
        np.save(d / f"x_{part}.npy", x)
        np.save(d / f"y_{part}.npy", y)
    return d


class CountingNpy(NpySource):
    """An NpySource that logs the size of every read (to a file: worker processes read too)."""

    def __init__(self, directory, log, augment=None):
        super().__init__(directory)
        self.log, self.augment = str(log), augment

    def read(self, indices, part="train"):
        with open(self.log, "a") as f:
            f.write(f"{part} {len(indices)}\n")
        return super().read(indices, part)

    def reads(self, part):
        lines = open(self.log).read().split() if open(self.log).read() else []
        return [int(n) for p, n in zip(lines[::2], lines[1::2]) if p == part]


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _same_result(a, b):
    assert _same_weights(a.model, b.model)
    assert a.test_accuracy == b.test_accuracy and a.per_class_accuracy == b.per_class_accuracy
    assert np.array_equal(a.test_predictions, b.test_predictions)
    assert (a.steps, a.epochs, a.train_size, a.examples_seen) == (b.steps, b.epochs, b.train_size, b.examples_seen)


class Recorder:
    def __init__(self):
        self.seen = []

    def on_batch(self, step, epoch, indices, logits, targets):
        self.seen.append((step, epoch, indices.clone(), logits.clone(), targets.clone()))

    def state_dict(self):
        return {}

    def load_state_dict(self, s):
        pass


@pytest.mark.parametrize("workers", [0, 2])
def test_lazy_source_trains_bitwise_as_in_memory_reading_batch_by_batch(npy_dir, tmp_path, workers):
    memory, seen_m = load_dataset(f"npy:{npy_dir}"), Recorder()
    torch.manual_seed(123)
    ref = train(memory, CFG, hooks=[seen_m])
    rng_after = torch.get_rng_state()
    source, seen_l = CountingNpy(npy_dir, tmp_path / "reads.log"), Recorder()
    torch.manual_seed(123)
    lazy = train(source, CFG, hooks=[seen_l], num_workers=workers)
    assert torch.equal(torch.get_rng_state(), rng_after)  # the loader's workers are not seeded from the global RNG
    _same_result(ref, lazy)
    assert ref.test_accuracy > 0.5  # it learnt something: the equality is not between two untrained models
    for a, b in zip(seen_m.seen, seen_l.seen, strict=True):  # the hooks see the same batches, logits and targets
        assert a[:2] == b[:2] and all(torch.equal(u, v) for u, v in zip(a[2:], b[2:]))
    train_reads = source.reads("train")  # one read per step: 300 rows in 10 batches of 30, never all at once
    assert len(train_reads) == ref.steps == 2 * 10 and set(train_reads) == {30} and sum(train_reads) == 2 * N_TRAIN
    assert source.reads("test") == [N_TEST]  # the test set in predict_logits' batches of 1024


def test_lazy_subset_with_augmentation_and_resume(npy_dir, tmp_path):
    aug = Augment(crop_padding=2, flip=True)
    memory = dataclasses.replace(load_dataset(f"npy:{npy_dir}"), augment=aug)
    subset = np.arange(0, N_TRAIN, 2)[::-1]  # 150 examples, given in reverse
    cfg = dataclasses.replace(CFG, epochs=3)
    ref = train(memory, cfg, subset=subset)
    source = CountingNpy(npy_dir, tmp_path / "reads.log", augment=aug)
    _same_result(ref, train(source, cfg, subset=subset, num_workers=0))
    assert set(source.reads("train")) == {30} and sum(source.reads("train")) == 3 * 150
    part = train(source, cfg, subset=subset, checkpointer=RunDirCheckpointer(tmp_path / "run"), stop_at=7)
    assert part.steps == 7  # mid-epoch; resumed with worker processes
    _same_result(
        ref, train(source, cfg, subset=subset, checkpointer=RunDirCheckpointer(tmp_path / "run"), num_workers=2)
    )
    assert not _same_weights(ref.model, train(source, dataclasses.replace(cfg, augment=False), subset=subset).model)


def test_lazy_dynamic_pruning_plans_each_epoch_after_the_last_ones_losses(npy_dir, tmp_path):
    """InfoBatch plans an epoch from the losses of the one before: the loader must not read ahead
    across an epoch's end (with workers prefetching)."""
    cfg = dataclasses.replace(CFG, epochs=4)
    pruning = DynamicPruning("infobatch", 0.5)
    ref = train(load_dataset(f"npy:{npy_dir}"), cfg, dynamic=pruning)
    source = CountingNpy(npy_dir, tmp_path / "reads.log")
    lazy = train(source, cfg, dynamic=pruning, num_workers=2)
    _same_result(ref, lazy)
    assert lazy.dynamic == ref.dynamic and ref.dynamic["saved_fraction"] > 0
    assert sum(source.reads("train")) == ref.examples_seen < 4 * N_TRAIN


def test_predict_source_gives_the_in_memory_logits(npy_dir):
    memory = load_dataset(f"npy:{npy_dir}")
    model = train(memory, CFG).model
    for part, x, y in (("train", memory.x_train, memory.y_train), ("test", memory.x_test, memory.y_test)):
        logits, labels = predict_source(model, NpySource(npy_dir), part, batch_size=64, num_workers=0)
        assert torch.equal(logits, predict_logits(model, x, batch_size=64)) and torch.equal(labels, y)


def test_npy_source_pickles_without_its_rows(npy_dir):
    """Workers started by spawn or forkserver get the source by pickle: the memmaps are mapped again, not copied."""
    source = NpySource(npy_dir)
    _ = source.mean  # the statistics travel with it (not computed again in each worker)
    data = pickle.dumps(source)
    assert len(data) < N_TRAIN * 64  # less than the raw training inputs
    copy = pickle.loads(data)
    assert isinstance(copy.arrays_["x_train"], np.memmap) and "mean_std" in copy.__dict__
    idx = [5, 0, 299]
    assert all(torch.equal(a, b) for a, b in zip(copy.read(idx), source.read(idx)))


def test_bad_training_data_and_workers(npy_dir):
    with pytest.raises(DataDietError, match="dataset must be a Dataset or a lazy source"):
        train(np.zeros((4, 2)), CFG)
    with pytest.raises(DataDietError, match="num_workers"):
        train(NpySource(npy_dir), CFG, num_workers=-1)

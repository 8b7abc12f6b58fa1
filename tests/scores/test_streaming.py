"""Scores of a map-style torch Dataset, streamed one batch at a time, equal those of the same data as arrays."""

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from datadiet.data import load_dataset
from datadiet.data.sources import NpySource
from datadiet.errors import DataDietError
from datadiet.models import build_model
from datadiet.scores import el2n, grand, logit_margin, loss, margin
from datadiet.selection import select


class OnDisk(Dataset):
    """Examples read from a memory-mapped .npy file on every access (never all in memory), counting reads."""

    def __init__(self, x_path, y):
        self.x = np.load(x_path, mmap_mode="r")
        self.y = y
        self.reads = 0

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        self.reads += 1
        return torch.from_numpy(np.array(self.x[i])), int(self.y[i])


@pytest.fixture
def on_disk(tiny_images, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, tiny_images.x_train.numpy())
    return OnDisk(path, tiny_images.y_train.numpy())


@pytest.mark.parametrize("score", [el2n, grand, loss, margin, logit_margin])
def test_a_streamed_dataset_scores_like_its_arrays(tiny_images, on_disk, score):
    model = build_model("cnn", tiny_images.input_shape, tiny_images.num_classes, seed=0)
    x, y = tiny_images.x_train, tiny_images.y_train
    for bs in (None, 48):
        kw = {} if bs is None else {"batch_size": bs}
        np.testing.assert_array_equal(score(model, on_disk, **kw), score(model, x, y, **kw))
    assert on_disk.reads == 2 * len(y)  # each example read once per call, nothing cached


class CountingNpy(NpySource):
    def read(self, indices, part="train"):
        self.reads = [*getattr(self, "reads", []), (part, len(indices))]
        return super().read(indices, part)


@pytest.mark.parametrize("score", [el2n, grand, loss])
def test_a_lazy_source_scores_like_its_arrays_one_read_per_batch(tmp_path, score):
    rng = np.random.default_rng(0)
    for part, n in (("train", 100), ("test", 20)):
        np.save(tmp_path / f"x_{part}.npy", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
        np.save(tmp_path / f"y_{part}.npy", np.arange(n) % 4)
    memory, source = load_dataset(f"npy:{tmp_path}"), CountingNpy(tmp_path)
    model = build_model("mlp", memory.input_shape, memory.num_classes, seed=0)
    np.testing.assert_array_equal(
        score(model, source, batch_size=32), score(model, memory.x_train, memory.y_train, batch_size=32)
    )
    assert source.reads == [("train", 32)] * 3 + [("train", 4)]  # one read per batch, never all rows at once


def test_kept_indices_drop_into_a_subset(tiny_images, on_disk):
    model = build_model("mlp", tiny_images.input_shape, tiny_images.num_classes, seed=0)
    keep = select(el2n(model, on_disk), keep=0.25)
    sub = Subset(on_disk, keep)
    assert len(sub) == len(keep) and torch.equal(sub[0][0], tiny_images.x_train[keep[0]])
    np.testing.assert_array_equal(el2n(model, sub), el2n(model, tiny_images.x_train[keep], tiny_images.y_train[keep]))


def test_streaming_errors(tiny_images):
    model = build_model("mlp", tiny_images.input_shape, tiny_images.num_classes, seed=0)
    data = TensorDataset(tiny_images.x_train, tiny_images.y_train)
    with pytest.raises(DataDietError, match="targets must be None"):
        el2n(model, data, tiny_images.y_train)
    with pytest.raises(DataDietError, match="targets are required"):
        el2n(model, tiny_images.x_train)
    with pytest.raises(DataDietError, match=r"\(x, y\) pairs"):
        el2n(model, TensorDataset(tiny_images.x_train))

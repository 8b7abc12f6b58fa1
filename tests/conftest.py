import numpy as np
import pytest
import torch

from datadiet.data import Augment, from_arrays


@pytest.fixture(scope="session")
def tiny_images():
    """A small learnable image dataset: class = which quadrant is bright, plus noise."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 4, n)
        x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
        for i, c in enumerate(y):
            r, k = divmod(int(c), 2)
            x[i, 0, r * 4 : (r + 1) * 4, k * 4 : (k + 1) * 4] += 1.0
        return x, y

    xtr, ytr = make(256)
    xte, yte = make(128)
    return from_arrays("tiny", xtr, ytr, xte, yte, augment=Augment(crop_padding=1, flip=False))


@pytest.fixture(autouse=True)
def _fixed_threads():
    torch.set_num_threads(2)

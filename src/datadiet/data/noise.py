"""Seeded label-noise injection that records which examples it corrupted."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from datadiet.data.dataset import Dataset
from datadiet.validation import check_fraction, check_positive_int


def add_label_noise(dataset: Dataset, fraction: float, *, seed: int = 0) -> Dataset:
    """Give ``round(fraction * N)`` training examples, chosen by ``seed``, a different random label.

    Every chosen example really changes class (the new label is drawn from the other classes), so
    ``noisy`` marks exactly the examples whose label is wrong. The test set is left clean.
    """
    fraction = check_fraction("label_noise", fraction)
    seed = check_positive_int("noise_seed", seed, allow_zero=True)
    if fraction == 0:
        return dataset
    rng = np.random.default_rng([seed, 0x6E6F697365])
    n = dataset.num_train
    k = int(round(fraction * n))
    chosen = rng.choice(n, size=k, replace=False)
    y = dataset.y_train.numpy().copy()
    shift = rng.integers(1, dataset.num_classes, size=k)
    y[chosen] = (y[chosen] + shift) % dataset.num_classes
    noisy = np.zeros(n, dtype=bool)
    noisy[chosen] = True
    return dataclasses.replace(
        dataset,
        y_train=torch.from_numpy(y),
        y_train_clean=dataset.y_train,
        noisy=noisy,
        fingerprint=f"{dataset.fingerprint}-noise{fraction:g}s{seed}",
    )

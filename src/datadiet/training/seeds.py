"""Seeds derived from tuples of integers (never from time): the trainer's data order and
augmentation, and the dynamic pruners' draws, all come from here."""

from __future__ import annotations

import numpy as np
import torch


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from a tuple of integers (never from time)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint64)[0] >> 1)


def seeded_generator(*parts: int) -> torch.Generator:
    """A fresh CPU generator seeded with ``derived_seed(*parts)``."""
    return torch.Generator().manual_seed(derived_seed(*parts))


def epoch_permutation(n: int, order_seed: int, epoch: int) -> torch.Tensor:
    """The order in which epoch ``epoch`` visits ``n`` examples: a function of ``(order_seed, epoch)``."""
    return torch.randperm(n, generator=seeded_generator(order_seed, epoch, 0x0D))

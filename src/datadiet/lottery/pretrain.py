"""What the pre-training steps of a lottery run train on (pure): ``full``, ``random:N``, ``easy:N`` or
``hard:N`` (Paul et al. 2022: a small random subset, or the easiest examples, before rewinding)."""

from __future__ import annotations

from datadiet.errors import DataDietError
from datadiet.validation import check_choice, check_positive_int

PRETRAIN_KINDS = ("full", "random", "easy", "hard")


def parse_pretrain(spec: str) -> tuple[str, int | None]:
    """``full``, ``random:N``, ``easy:N`` or ``hard:N`` -> (kind, N)."""
    kind, sep, n = str(spec).partition(":")
    check_choice("pretrain", kind, PRETRAIN_KINDS)
    if kind == "full":
        if sep:
            raise DataDietError(f"pretrain 'full' takes no size, got {spec!r}")
        return kind, None
    try:
        size = int(n)
    except ValueError:
        raise DataDietError(f"pretrain {spec!r}: the size after ':' must be an integer, e.g. {kind}:1000") from None
    return kind, check_positive_int("pretrain size", size)


def check_pretrain(pretrain: str, *, step: int, step_name: str, batch_size: int) -> tuple[str, int | None]:
    """:func:`parse_pretrain`, and a subset that fills a batch and has pre-training steps to train."""
    kind, size = parse_pretrain(pretrain)
    if size is not None and size < batch_size:
        raise DataDietError(f"pretrain size must be >= the batch size {batch_size}, got {size}")
    if kind != "full" and step == 0:
        raise DataDietError(f"pretrain {pretrain!r} needs {step_name} > 0 (no pre-training at step 0)")
    return kind, size

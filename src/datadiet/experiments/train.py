"""One training run in its run directory (``datadiet train``): cached, resumable, on a given subset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.defaults import DEFAULT_DEVICE
from datadiet.engine import Context, DatasetSpec, as_spec, run_job
from datadiet.stages.select import SelectJob
from datadiet.stages.train import TrainJob
from datadiet.training import TrainConfig


def train_in_run_dir(
    dataset: Dataset | DatasetSpec,
    config: TrainConfig,
    out: str | Path,
    *,
    subset: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    device: str = DEFAULT_DEVICE,
) -> dict:
    """Train once per (dataset, config, subset); returns the summary stored in ``result.json``.

    ``subset`` (explicit indices) becomes a :class:`SelectJob` of strategy ``given``: its run
    directory holds the indices, so the training run is keyed by them.
    """
    spec = as_spec(dataset)
    selection = None
    if subset is not None:
        selection = SelectJob.given(spec, subset)
        run_job(selection, Context(out))
    ctx = Context(out, device=device, progress=None if progress is None else (lambda _description: progress))
    return run_job(TrainJob(spec, config, selection), ctx)

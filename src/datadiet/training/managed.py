"""Run a training job inside a run directory: skip when finished, resume when interrupted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.runs import (
    RunDir,
    atomic_save_npy,
    atomic_torch_save,
    atomic_write_json,
    config_hash,
    read_json,
    runtime_info,
)
from datadiet.training import TrainConfig, train


def dataset_key(dataset: Dataset) -> dict:
    """The part of a dataset that affects results: its name and content fingerprint."""
    return {"name": dataset.name, "fingerprint": dataset.fingerprint}


def train_in_run_dir(
    dataset: Dataset,
    config: TrainConfig,
    out: str | Path,
    *,
    subset: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Train once per (dataset, config, subset); returns the summary stored in ``result.json``."""
    cfg = {
        "dataset": dataset_key(dataset),
        "train": config,
        "subset": None if subset is None else config_hash(np.asarray(subset, dtype=np.int64).tolist(), 16),
    }
    rd = RunDir(out, "train", cfg).create()
    result_path = rd.file("result.json")
    if result_path.exists():
        out_ = read_json(result_path)
        out_["resumed"] = "finished earlier"
        return out_
    resumed = rd.file("state.pt").exists()
    if subset is not None and not rd.file("subset.npy").exists():
        atomic_save_npy(rd.file("subset.npy"), np.sort(np.asarray(subset, dtype=np.int64)))  # which examples
    res = train(dataset, config, subset=subset, run_dir=rd.path, progress=progress)
    summary = res.summary(dataset.class_names)
    summary["run_dir"] = str(rd.path)
    summary["runtime"] = runtime_info()
    atomic_torch_save(rd.file("model.pt"), res.model.state_dict())
    atomic_write_json(result_path, summary)
    rd.file("state.pt").unlink(missing_ok=True)
    summary["resumed"] = "resumed" if resumed else "new"
    return summary

"""Training inside a run directory: skip when finished, resume when interrupted.

The trainer (:func:`datadiet.training.train`) is pure; :class:`RunDirCheckpointer` is what it
persists through here: the resume state (``state.pt``) and checkpoints (``checkpoints/step_*.pt``),
written atomically and read back with ``weights_only=True`` (no pickled code is ever executed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.errors import DataDietError
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


class RunDirCheckpointer:
    """Keeps a training run's resume state and checkpoints in the folder ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def state_path(self) -> Path:
        return self.path / "state.pt"

    def _checkpoint_path(self, step: int) -> Path:
        return self.path / "checkpoints" / f"step_{step:07d}.pt"

    @staticmethod
    def _load(path: Path) -> dict | None:
        import torch

        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise DataDietError(f"cannot resume from {path}: {type(e).__name__}; delete it to start over") from None

    def load_state(self) -> dict | None:
        return self._load(self.state_path)

    def save_state(self, state: dict) -> None:
        atomic_torch_save(self.state_path, state)

    def save_checkpoint(self, step: int, state_dict: dict) -> None:
        atomic_torch_save(self._checkpoint_path(step), state_dict)

    def load_checkpoint(self, step: int) -> dict | None:
        return self._load(self._checkpoint_path(step))

    def clear_state(self) -> None:
        """Drop the resume state once the run's results are safely written."""
        self.state_path.unlink(missing_ok=True)


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
    with rd.lock():
        return _train_locked(rd, dataset, config, subset, progress)


def _train_locked(rd: RunDir, dataset: Dataset, config: TrainConfig, subset, progress) -> dict:
    result_path = rd.file("result.json")
    if result_path.exists():
        out_ = read_json(result_path)
        out_["resumed"] = "finished earlier"
        return out_
    ck = RunDirCheckpointer(rd.path)
    resumed = ck.state_path.exists()
    if subset is not None and not rd.file("subset.npy").exists():
        atomic_save_npy(rd.file("subset.npy"), np.sort(np.asarray(subset, dtype=np.int64)))  # which examples
    res = train(dataset, config, subset=subset, checkpointer=ck, progress=progress)
    summary = res.summary(dataset.class_names)
    summary["run_dir"] = str(rd.path)
    summary["runtime"] = runtime_info()
    atomic_torch_save(rd.file("model.pt"), res.model.state_dict())
    atomic_write_json(result_path, summary)
    ck.clear_state()
    summary["resumed"] = "resumed" if resumed else "new"
    return summary

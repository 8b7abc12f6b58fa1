"""Weights on disk: a training run's resume state and checkpoints, and the weights jobs saved.

The trainer (:func:`datadiet.training.train`) is pure; :class:`RunDirCheckpointer` is what it
persists through: the resume state (``state.pt``) and checkpoints (``checkpoints/step_*.pt``),
written atomically and read back with ``weights_only=True`` (no pickled code is ever executed).
"""

from __future__ import annotations

from pathlib import Path

import torch

from datadiet.data.dataset import Dataset
from datadiet.engine.datasets import DatasetSpec
from datadiet.errors import DataDietError
from datadiet.models import build_model, is_user_model
from datadiet.runs import atomic_torch_save, config_hash
from datadiet.training import TrainConfig


def cpu_state(model) -> dict:
    """A detached CPU copy of ``model``'s state dict (what jobs save)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


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


def load_weights(path: str | Path, what: str) -> dict:
    """A state dict saved by a job, loaded with ``weights_only=True``; a missing or corrupt file is a
    one-line :class:`DataDietError` naming ``what`` it is."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataDietError(f"{what} not found: {path} (has its job run?)") from None
    except Exception as e:
        raise DataDietError(f"cannot read {what} {path}: {type(e).__name__}; delete its folder to redo it") from None


def load_trained_model(train: TrainConfig, dataset: Dataset, path: str | Path, what: str):
    """``train``'s model for ``dataset`` with the weights a job saved at ``path`` (see :func:`load_weights`)."""
    model = build_model(train.model, dataset.input_shape, dataset.num_classes, width=train.width, seed=train.init_seed)
    try:
        model.load_state_dict(load_weights(path, what))
    except RuntimeError as e:  # saved by another version of the model: sizes or names differ
        why = str(e).strip().splitlines()[0]
        raise DataDietError(
            f"{what} {path} does not fit model {train.model!r} ({why}); the model changed since it was saved: "
            f"delete {Path(path).parent} to redo it"
        ) from None
    return model


_CHECKED: set[tuple] = set()  # (model, source hash, dataset): a plan holds many jobs of one model


def check_model_on_data(data: DatasetSpec, train: TrainConfig) -> None:
    """Build a user's model for ``data`` once, which checks its output on one batch (see
    :func:`datadiet.models.user.build_user_model`); built-in models need no check."""
    if not is_user_model(train.model):
        return
    token = (train.model, train.model_hash, config_hash(data.key()))
    if token not in _CHECKED:
        ds = data.load()
        build_model(train.model, ds.input_shape, ds.num_classes, seed=train.init_seed, source_hash=train.model_hash)
        _CHECKED.add(token)


class BuildsModel:
    """For jobs with ``data`` and ``train`` fields: their :meth:`check` builds the model on one batch."""

    def check(self) -> None:
        check_model_on_data(self.data, self.train)

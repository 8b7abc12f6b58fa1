"""Training inside a run directory: skip when finished, resume when interrupted.

The trainer (:func:`datadiet.training.train`) is pure; :class:`RunDirCheckpointer` is what it
persists through here: the resume state (``state.pt``) and checkpoints (``checkpoints/step_*.pt``),
written atomically and read back with ``weights_only=True`` (no pickled code is ever executed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.errors import DataDietError
from datadiet.experiments.jobs import Context, DatasetSpec, Job, as_spec, run_job
from datadiet.experiments.selection import SelectJob
from datadiet.runs import RunDir, atomic_save_npy, atomic_torch_save, runtime_info
from datadiet.training import TrainConfig, train
from datadiet.training.dynamic import DynamicPruning


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


def load_weights(path: str | Path, what: str) -> dict:
    """A state dict saved by a job, loaded with ``weights_only=True``; a missing or corrupt file is a
    one-line :class:`DataDietError` naming ``what`` it is."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataDietError(f"{what} not found: {path} (has its job run?)") from None
    except Exception as e:
        raise DataDietError(f"cannot read {what} {path}: {type(e).__name__}; delete its folder to redo it") from None


def load_trained_model(train: TrainConfig, dataset: Dataset, path: str | Path, what: str):
    """``train``'s model for ``dataset`` with the weights a job saved at ``path`` (see :func:`load_weights`)."""
    from datadiet.models import build_model

    model = build_model(train.model, dataset.input_shape, dataset.num_classes, width=train.width, seed=train.init_seed)
    model.load_state_dict(load_weights(path, what))
    return model


def dataset_key(dataset: Dataset) -> dict:
    """The part of a dataset that affects results: its name and content fingerprint."""
    return {"name": dataset.name, "fingerprint": dataset.fingerprint}


@dataclass(frozen=True)
class TrainJob(Job):
    """Train ``train`` on ``data``, on the full training set or on the indices a :class:`SelectJob` kept.

    Run directory ``train_<hash>`` over the dataset, the training config and the selection (``None``
    for full data, so the full-data run of every method of a sweep is one job). Writes ``model.pt``,
    ``subset.npy`` (the sorted kept indices) and ``result.json`` (accuracy overall and per class,
    steps, examples seen, seconds, run metadata). An interrupted run resumes from ``state.pt``.
    """

    data: DatasetSpec
    train: TrainConfig
    selection: SelectJob | None = None
    dynamic: DynamicPruning | None = None
    kind: ClassVar[str] = "train"

    def __post_init__(self):
        if self.selection is not None and self.dynamic is not None:
            raise DataDietError("a training job prunes either by a selection or dynamically, not both")

    def config(self) -> dict:
        sel = None if self.selection is None else self.selection.key()
        cfg = {"dataset": self.data.key(), "train": self.train, "subset": sel}
        if self.dynamic is not None:  # absent otherwise, so static runs keep their keys
            cfg["dynamic"] = self.dynamic
        return cfg

    def deps(self) -> tuple[Job, ...]:
        return () if self.selection is None else (self.selection,)

    def describe(self) -> str:
        what = "full data" if self.selection is None else self.selection.describe()
        if self.dynamic is not None:
            what = f"{self.dynamic.method}, {self.dynamic.fraction:.0%} of the compute saved"
        return f"train {self.train.model} seed {self.train.init_seed} on {what}"

    def run(self, rd: RunDir, ctx: Context) -> dict:
        dataset = self.data.load()
        subset = None if self.selection is None else self.selection.indices(ctx.out)
        ck = RunDirCheckpointer(rd.path)
        resumed = ck.state_path.exists()
        if subset is not None and not rd.file("subset.npy").exists():
            atomic_save_npy(rd.file("subset.npy"), np.sort(subset))
        res = train(
            dataset,
            self.train,
            subset=subset,
            checkpointer=ck,
            progress=ctx.bar(self.describe()),
            device=ctx.device,
            dynamic=self.dynamic,
        )
        summary = res.summary(dataset.class_names)
        atomic_save_npy(rd.file(TEST_PREDICTIONS), res.test_predictions)  # per-group accuracy, any grouping
        summary["run_dir"] = str(rd.path)
        summary["runtime"] = {**runtime_info(), "device": ctx.device}
        atomic_torch_save(rd.file("model.pt"), {k: v.cpu() for k, v in res.model.state_dict().items()})
        summary["resumed"] = "resumed" if resumed else "new"
        return summary

    def cleanup(self, rd: RunDir) -> None:
        RunDirCheckpointer(rd.path).clear_state()  # the result is written: the resume state is done with


TEST_PREDICTIONS = "test_predictions.npy"


def load_test_predictions(job: TrainJob, out: str | Path, dataset: Dataset) -> np.ndarray:
    """The predicted label of every test example by a finished training job (runs made before these
    were kept get them from their ``model.pt``, once, and keep them)."""
    path = job.path(out) / TEST_PREDICTIONS
    if path.exists():
        try:
            pred = np.load(path, allow_pickle=False)
            if pred.shape == (int(dataset.x_test.shape[0]),):
                return pred
        except (OSError, ValueError):
            pass  # a corrupt cache entry is recomputed
    from datadiet.training import predict_logits

    model = load_trained_model(job.train, dataset, job.path(out) / "model.pt", f"training run {job.key()}'s model")
    pred = predict_logits(model, dataset.x_test).argmax(1).numpy().astype(np.int64)
    atomic_save_npy(path, pred)
    return pred


def train_in_run_dir(
    dataset: Dataset | DatasetSpec,
    config: TrainConfig,
    out: str | Path,
    *,
    subset: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    device: str = "cpu",
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

"""The training stage: one training run in its run directory, on the full data, a selection, or
pruned dynamically; it resumes when interrupted (through :class:`~datadiet.engine.weights.RunDirCheckpointer`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.data.split import validation_info
from datadiet.engine.datasets import DatasetSpec
from datadiet.engine.jobs import Context, Job
from datadiet.engine.weights import BuildsModel, RunDirCheckpointer, load_trained_model
from datadiet.errors import DataDietError
from datadiet.runs import RunDir, atomic_save_npy, atomic_torch_save, runtime_info
from datadiet.stages.select import SelectJob
from datadiet.training import TrainConfig, predict_logits, train
from datadiet.training.dynamic import DynamicPruning


@dataclass(frozen=True)
class TrainJob(BuildsModel, Job):
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
        if (validation := validation_info(dataset)) is not None:  # absent without a validation part
            summary["validation"] = validation
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
    model = load_trained_model(job.train, dataset, job.path(out) / "model.pt", f"training run {job.key()}'s model")
    pred = predict_logits(model, dataset.x_test).argmax(1).numpy().astype(np.int64)
    atomic_save_npy(path, pred)
    return pred

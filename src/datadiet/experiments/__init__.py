"""The experiments layer: jobs with run directories, executors that run them, above the pure cores.

A job (:mod:`datadiet.experiments.jobs`) is a frozen, hashable spec; ``key()`` names its run
directory (a hash of everything that changes its result) and ``run()`` does the work there.
Finished jobs are skipped, interrupted ones resume, and an executor
(:mod:`datadiet.experiments.executors`: in-process or Ray) runs them. Below this layer, ``scores``,
``selection`` and the trainer do no file I/O.
"""

from datadiet.experiments.executors import EXECUTORS, InProcess, RayExecutor, make_executor
from datadiet.experiments.jobs import Context, DatasetSpec, Job, as_spec, closure, levels, run_job, run_jobs
from datadiet.experiments.scoring import (
    CheckpointJob,
    ScoreConfig,
    ScoreJob,
    ScoreResult,
    read_score_table,
    score_dataset,
)
from datadiet.experiments.selection import SelectJob
from datadiet.experiments.sweep import SweepConfig, SweepResult, SweepSpec, plan_cells, run_sweep
from datadiet.experiments.training import RunDirCheckpointer, TrainJob, dataset_key, train_in_run_dir

__all__ = [
    "EXECUTORS",
    "CheckpointJob",
    "Context",
    "DatasetSpec",
    "InProcess",
    "Job",
    "RayExecutor",
    "RunDirCheckpointer",
    "ScoreConfig",
    "ScoreJob",
    "ScoreResult",
    "SelectJob",
    "SweepConfig",
    "SweepResult",
    "SweepSpec",
    "TrainJob",
    "as_spec",
    "closure",
    "dataset_key",
    "levels",
    "make_executor",
    "plan_cells",
    "read_score_table",
    "run_job",
    "run_jobs",
    "run_sweep",
    "score_dataset",
    "train_in_run_dir",
]

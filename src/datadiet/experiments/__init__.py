"""The experiments layer: units of work with run directories, above the pure cores.

A job's config names everything that changes its result, its run directory is a hash of that
config, finished work is skipped and interrupted work resumes. Below it, ``scores``,
``selection`` and the trainer do no file I/O.
"""

from datadiet.experiments.scoring import ScoreConfig, ScoreResult, read_score_table, score_dataset
from datadiet.experiments.training import RunDirCheckpointer, dataset_key, train_in_run_dir

__all__ = [
    "RunDirCheckpointer",
    "ScoreConfig",
    "ScoreResult",
    "dataset_key",
    "read_score_table",
    "score_dataset",
    "train_in_run_dir",
]

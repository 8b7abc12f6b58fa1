"""The stages: every kind of job an experiment is made of, each with its run directory.

* :mod:`~datadiet.stages.train`: :class:`TrainJob` (full data, a selection, or dynamic pruning).
* :mod:`~datadiet.stages.score`: :class:`CheckpointJob` (one scoring seed trained to epoch t),
  :class:`ScoreJob` (one method averaged over its seeds), :class:`TableScoreJob` (a score table file).
* :mod:`~datadiet.stages.select`: :class:`SelectJob` (which examples a pruned run keeps).
* :mod:`~datadiet.stages.lottery`: :class:`RewindJob`, :class:`LevelJob` (IMP levels and their random
  baselines), :class:`LmcJob` (linear mode connectivity).
"""

from datadiet.stages.lottery import LevelJob, LmcJob, RewindJob
from datadiet.stages.score import CheckpointJob, ScoreConfig, ScoreJob, ScoreResult, TableScoreJob, read_score_table
from datadiet.stages.select import SelectJob
from datadiet.stages.train import TrainJob

__all__ = [
    "CheckpointJob",
    "LevelJob",
    "LmcJob",
    "RewindJob",
    "ScoreConfig",
    "ScoreJob",
    "ScoreResult",
    "SelectJob",
    "TableScoreJob",
    "TrainJob",
    "read_score_table",
]

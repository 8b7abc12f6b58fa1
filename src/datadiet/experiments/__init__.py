"""The experiments users run, each a spec the engine's one runner carries out (plan -> executor ->
collect -> write): scoring (:mod:`~datadiet.experiments.score`), the pruning sweep
(:mod:`~datadiet.experiments.sweep`), lottery tickets and linear mode connectivity
(:mod:`~datadiet.experiments.lottery`), and the studies (:mod:`~datadiet.experiments.studies`).
``prune`` and ``train`` are here too: what the ``datadiet prune`` and ``train`` commands do.

Below this layer: the engine (:mod:`datadiet.engine`: jobs, executors, the runner), the stages
(:mod:`datadiet.stages`: the job kinds), and the pure cores (scores, selection, training, lottery).
The names most users need are re-exported here.
"""

from datadiet.engine import (
    EXECUTORS,
    Context,
    DatasetSpec,
    ExperimentResult,
    InProcess,
    Job,
    RayExecutor,
    ShardedScoring,
    as_spec,
    closure,
    levels,
    make_executor,
    run_experiment,
    run_job,
    run_jobs,
    score_sharded,
)
from datadiet.engine.weights import RunDirCheckpointer
from datadiet.experiments.lottery import (
    LmcConfig,
    LmcExperiment,
    LotteryConfig,
    LotteryExperiment,
    run_lmc,
    run_lottery,
)
from datadiet.experiments.score import ScoreExperiment, score_dataset, score_methods
from datadiet.experiments.sweep import SweepConfig, SweepResult, SweepSpec, plan_cells, run_sweep
from datadiet.experiments.train import train_in_run_dir
from datadiet.stages import CheckpointJob, ScoreConfig, ScoreJob, ScoreResult, SelectJob, TrainJob, read_score_table

__all__ = [
    "EXECUTORS",
    "CheckpointJob",
    "Context",
    "DatasetSpec",
    "ExperimentResult",
    "InProcess",
    "Job",
    "LmcConfig",
    "LmcExperiment",
    "LotteryConfig",
    "LotteryExperiment",
    "RayExecutor",
    "ShardedScoring",
    "RunDirCheckpointer",
    "ScoreConfig",
    "ScoreExperiment",
    "ScoreJob",
    "ScoreResult",
    "SelectJob",
    "SweepConfig",
    "SweepResult",
    "SweepSpec",
    "TrainJob",
    "as_spec",
    "closure",
    "levels",
    "make_executor",
    "score_sharded",
    "plan_cells",
    "read_score_table",
    "run_experiment",
    "run_job",
    "run_jobs",
    "run_lmc",
    "run_lottery",
    "run_sweep",
    "score_dataset",
    "score_methods",
    "train_in_run_dir",
]

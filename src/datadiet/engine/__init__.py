"""The engine: jobs and how they run, whatever they compute.

* :mod:`~datadiet.engine.jobs`: the job protocol (frozen, ``key()``, ``deps()``, ``run()``),
  :func:`run_job` (lock, marker written last, journal) and the :class:`Context` jobs run in.
* :mod:`~datadiet.engine.datasets`: :class:`DatasetSpec`, the data a job rebuilds in any process.
* :mod:`~datadiet.engine.executors`: where jobs run (in-process, Ray); :mod:`~datadiet.engine.choose`
  picks one by name.
* :mod:`~datadiet.engine.sharded`: one scoring pass over a large training set, in shards on Ray.
* :mod:`~datadiet.engine.weights`: resume states, checkpoints and saved weights.
* :mod:`~datadiet.engine.runner`: :func:`run_jobs`, and :func:`run_experiment`, the one runner of
  every experiment (plan -> executor -> collect -> write).

The job kinds are in :mod:`datadiet.stages`; what users run is in :mod:`datadiet.experiments`.
"""

from datadiet.engine.choose import make_executor
from datadiet.engine.datasets import DatasetSpec, as_spec
from datadiet.engine.executors import EXECUTORS, InProcess, RayExecutor
from datadiet.engine.jobs import Context, Job, ProgressFactory, closure, levels, run_job
from datadiet.engine.runner import Experiment, ExperimentResult, run_experiment, run_jobs
from datadiet.engine.sharded import ShardedScoring, score_sharded

__all__ = [
    "EXECUTORS",
    "Context",
    "DatasetSpec",
    "Experiment",
    "ExperimentResult",
    "InProcess",
    "Job",
    "ProgressFactory",
    "RayExecutor",
    "ShardedScoring",
    "as_spec",
    "closure",
    "levels",
    "make_executor",
    "run_experiment",
    "run_job",
    "run_jobs",
    "score_sharded",
]

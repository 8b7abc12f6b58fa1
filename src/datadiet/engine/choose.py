"""Choosing an executor by name, with its options: what the CLI's ``--executor`` and friends build."""

from __future__ import annotations

from datadiet.engine.executors import EXECUTORS, InProcess, RayExecutor
from datadiet.engine.sharded import ShardedScoring
from datadiet.errors import DataDietError
from datadiet.validation import check_choice, check_positive_int


def make_executor(
    name: str = "inprocess",
    *,
    address: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    score_workers: int | None = None,
):
    """The executor called ``name`` (``inprocess`` or ``ray``); options that do not apply are refused.

    ``score_workers`` (in-process only): the jobs run here and score in shards on that many Ray
    workers (:class:`~datadiet.engine.sharded.ShardedScoring`), on a local Ray instance or the cluster
    at ``address``; ``threads`` is then also each scoring worker's torch threads."""
    check_choice("executor", name, EXECUTORS)
    if score_workers is not None:
        score_workers = check_positive_int("score_workers", score_workers)
        if name != "inprocess":
            raise DataDietError(
                "score_workers applies to executor 'inprocess' (the jobs run here, their scoring in shards on Ray); "
                "with executor 'ray' whole jobs run on Ray"
            )
        if workers is not None:
            raise DataDietError("workers applies to executor 'ray' only; scoring workers are set by score_workers")
        return InProcess(
            threads=threads, scoring=ShardedScoring(workers=score_workers, threads=threads, address=address)
        )
    if name == "inprocess":
        if address is not None or workers is not None:
            raise DataDietError("address and workers apply to executor 'ray' only")
        return InProcess(threads=threads)
    return RayExecutor(address=address, workers=workers, threads=threads)

"""Executors: ``map(jobs, ctx) -> summaries``, in the order of ``jobs``.

:class:`InProcess` (the default) runs jobs one after another in this process, with progress bars.
:class:`RayExecutor` runs them as Ray tasks, on a local Ray instance it starts (bound to 127.0.0.1)
or on an existing cluster (``address``), at most ``workers`` at a time, each with ``threads`` torch
threads. Jobs are the same either way, so the same seeds give the same tables (with the same
threads per job). A Ray worker that dies (killed, out of memory) has its job retried; the job
resumes from what its run directory holds.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import replace

import torch

from datadiet.engine.datasets import DatasetSpec, receive_dataset, shipped
from datadiet.engine.jobs import Context, Job, run_job
from datadiet.errors import DataDietError
from datadiet.validation import check_positive_int

EXECUTORS = ("inprocess", "ray")


@contextmanager
def torch_threads(threads: int | None):
    """Run with ``threads`` torch intra-op threads (None: leave as is)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class InProcess:
    """Run jobs here, one at a time (``threads``: torch threads while they run; None: unchanged).

    ``scoring``: where the jobs' model-based scoring passes run (a
    :class:`~datadiet.engine.sharded.ShardedScoring`: in shards on Ray); None: here. It is handed to
    the jobs in their :class:`Context` and closed with the executor."""

    name = "inprocess"

    def __init__(self, *, threads: int | None = None, scoring=None):
        self.threads = None if threads is None else check_positive_int("threads", threads)
        self.scoring = scoring

    def map(self, jobs: Sequence[Job], ctx: Context) -> list[dict]:
        with torch_threads(self.threads):
            return [run_job(j, ctx) for j in jobs]

    def describe(self) -> dict:
        scoring = {} if self.scoring is None else self.scoring.describe()
        return {"executor": self.name, "threads": self.threads, **scoring}

    def close(self) -> None:
        if self.scoring is not None:
            self.scoring.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _ray_task(job: Job, ctx: Context, threads: int, data: list) -> dict:  # runs on a Ray worker
    fingerprint = job.data.fingerprint if hasattr(job, "data") else None
    if data and fingerprint is not None and not shipped(fingerprint):
        import ray

        receive_dataset(ray.get(data[0]))  # once per worker process, from the object store
    torch.set_num_threads(threads)
    return run_job(job, ctx)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise DataDietError("executor 'ray' needs Ray: pip install 'datadiet[ray]' (or pip install ray)") from None
    return ray


RAY_CONNECT_TIMEOUT = 5.0  # seconds a cluster's address has to answer before we give up on it


def check_reachable(address: str, *, timeout: float = RAY_CONNECT_TIMEOUT) -> str:
    """``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) if it is ``auto`` or something
    answers there within ``timeout`` seconds; otherwise a one-line error at once, where Ray itself
    would retry for minutes."""
    if address == "auto":
        return address
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DataDietError(f"address must be auto or HOST:PORT with a port in 1..65535, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__.replace("Error", " error").lower()
        raise DataDietError(
            f"nothing answers at Ray address {address} ({reason}; {timeout:g} s timeout): "
            "is the cluster's head running there?"
        ) from None
    return address


class RayExecutor:
    """Run jobs as Ray tasks: ``workers`` at a time, ``threads`` torch threads each.

    With ``address=None`` a local Ray instance is started on first use, bound to 127.0.0.1 and with
    ``workers`` CPUs, and stopped by :meth:`close`; with an address (``HOST:PORT`` or ``auto``) the
    executor joins that cluster, whose workers must have datadiet installed and see ``ctx.out`` (a
    shared file system). ``threads`` defaults to the cores divided by ``workers``.
    """

    name = "ray"

    def __init__(
        self, *, address: str | None = None, workers: int | None = None, threads: int | None = None, retries: int = 3
    ):
        cores = os.cpu_count() or 1
        self.address = None if address is None else check_reachable(address)
        self.workers = check_positive_int("workers", workers if workers is not None else cores)
        self.threads = check_positive_int("threads", threads if threads is not None else max(1, cores // self.workers))
        self.retries = check_positive_int("retries", retries, allow_zero=True)
        self._started = False
        if address is None and self.workers * self.threads > cores:
            sys.stderr.write(
                f"datadiet: warning: {self.workers} workers x {self.threads} threads oversubscribe this "
                f"machine's {cores} cores; jobs will run slower than they could\n"
            )

    def describe(self) -> dict:
        return {"executor": self.name, "address": self.address, "workers": self.workers, "threads": self.threads}

    def _connect(self):
        if self.address is None:
            # keep a local instance on the loopback interface: Ray otherwise binds the machine's
            # address (the switch it uses on laptops; read by ray_constants at import, and by workers)
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray = _import_ray()
        if ray.is_initialized():
            return ray
        kwargs = {"log_to_driver": False, "configure_logging": False}
        try:
            if self.address is None:
                from ray._private import ray_constants

                ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable
                ray.init(num_cpus=self.workers, include_dashboard=False, _node_ip_address="127.0.0.1", **kwargs)
            else:
                ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or "a local instance"
            raise DataDietError(f"cannot start Ray on {where}: {' '.join(str(e).split())}") from None
        self._started = True
        return ray

    def map(self, jobs: Sequence[Job], ctx: Context) -> list[dict]:
        """Run independent jobs; their summaries in order."""
        results = self.run_graph(list(jobs), ctx, independent=True)
        return [results[j.key()] for j in jobs]

    def run_graph(self, jobs: Sequence[Job], ctx: Context, *, independent: bool = False) -> dict[str, dict]:
        """Run ``jobs`` (dependencies first, as :func:`closure` orders them), each as soon as the jobs
        it reads are done, at most ``workers`` at a time; ``{key: summary}``. Finished jobs are read
        back here without a round trip to Ray."""
        results: dict[str, dict] = {}
        todo = {}
        for j in jobs:
            if j.is_done(ctx.out):
                results[j.key()] = {**j.result(ctx.out), "resumed": "finished earlier"}
            else:
                todo[j.key()] = j
        if not todo:
            return results
        ray = self._connect()
        task = ray.remote(num_cpus=1, max_retries=self.retries)(_ray_task)
        # workers may not share this process's working directory: give them the absolute path
        plain = replace(ctx.without_progress(), out=ctx.out.resolve())
        stored: dict[str, object] = {}  # one copy of each dataset in the object store, not one per task
        for j in todo.values():
            spec = getattr(j, "data", None)
            if isinstance(spec, DatasetSpec) and spec.fingerprint is not None and spec.fingerprint not in stored:
                stored[spec.fingerprint] = ray.put(spec.load())
        bar = ctx.bar(f"{len(todo)} job(s) on Ray ({self.workers} workers x {self.threads} threads)")
        pending: dict = {}
        total = len(todo)
        while todo or pending:
            for key, job in list(todo.items()):
                if len(pending) >= self.workers:
                    break
                if independent or all(d.key() in results for d in job.deps()):
                    fp = getattr(getattr(job, "data", None), "fingerprint", None)
                    data = [stored[fp]] if fp in stored else []
                    pending[task.remote(job, plain, self.threads, data)] = job
                    del todo[key]
            if not pending:  # pragma: no cover - closure() always orders dependencies first
                raise DataDietError(f"jobs wait for jobs that are not planned: {', '.join(todo)}")
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                results[job.key()] = self._get(ray, ref, job)
            if bar is not None:
                bar(total - len(todo) - len(pending), total)
        return results

    def _get(self, ray, ref, job: Job) -> dict:
        from ray import exceptions as rex

        try:
            return ray.get(ref)
        except rex.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None  # the job's own error, as it would be in-process
            raise
        except (rex.WorkerCrashedError, rex.NodeDiedError, rex.RaySystemError) as e:
            raise DataDietError(
                f"job {job.key()} failed on Ray {self.retries + 1} time(s): {type(e).__name__}; re-run to resume it"
            ) from None

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

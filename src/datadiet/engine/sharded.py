"""Scoring one training set on many workers: shards of rows scored in parallel on Ray, then merged.

:func:`score_sharded` scores every training row of ``data`` (an in-memory Dataset, or a lazy source
such as ``npy:DIR`` whose rows each worker reads itself) with a trained model. The rows are cut into
shards of whole scoring batches (:func:`datadiet.scores.shards.plan_shards`), one Ray Data block per
shard, and ``map_batches`` hands them to a pool of ``workers`` actors (one CPU and ``threads`` torch
threads each). The model goes to the object store once (``ray.put`` of the state dict, or of the
module), the rows' reader once; each actor builds the model and loads the weights once, on its
first shard. The shards' scores are merged back in row order
(:func:`~datadiet.scores.shards.merge_shards`). Every batch is one the in-process pass scores too,
so the result equals ``MODEL_METHODS[method](model, x_train, y_train)`` on the CPU to the last bit.

Ray is started as :class:`~datadiet.engine.executors.RayExecutor` starts it: a local instance on
127.0.0.1 with ``workers`` CPUs (no dashboard) by default, or the cluster at ``address`` (checked to
answer first: a dead address is one line at once). Workers score on the CPU.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
from torch import nn

from datadiet.data.rows import row_reader
from datadiet.engine.executors import RayExecutor, torch_threads
from datadiet.errors import DataDietError
from datadiet.scores.shards import default_shard_rows, merge_shards, method_batch_size, plan_shards, score_shard
from datadiet.validation import check_positive_int

# actors are not restarted: a restartable actor whose arguments live in the object store makes Ray
# print an error line on every start (ray-project/ray#53727); a dead worker fails the call instead
_NO_RESTARTS = {"max_restarts": 0}


class _Ref:
    """An object-store reference passed inside the actors' arguments (Ray resolves only top-level ones)."""

    def __init__(self, ref) -> None:
        self.ref = ref

    def get(self):
        import ray

        return ray.get(self.ref)


def _build(model, state) -> nn.Module:
    """The model a worker scores with: a module as shipped, or ``model()`` with ``state`` loaded."""
    if state is None:
        built = model
    else:
        built = model()
        try:
            built.load_state_dict(state)
        except RuntimeError as e:  # the weights were saved for another model
            raise DataDietError(f"the weights do not fit the model: {' '.join(str(e).split())[:300]}") from None
    return built.cpu().eval()


class ShardScorer:
    """A Ray Data actor: scores whole shards (``start``, ``stop`` rows) with one model, built once."""

    def __init__(self, method: str, batch_size: int, threads: int) -> None:
        self.method, self.batch_size, self.threads = method, batch_size, threads
        self.model = self.rows = None

    def __call__(self, batch: dict, *, model: _Ref, state: _Ref | None, rows: _Ref) -> dict:
        with torch_threads(self.threads):
            if self.model is None:  # the first shard: the model and the reader, once per actor
                self.model = _build(model.get(), None if state is None else state.get())
                self.rows = rows.get()
            positions, values = [], []
            for start, stop in zip(batch["start"].tolist(), batch["stop"].tolist()):
                x, y = self.rows.read(start, stop)
                values.append(score_shard(self.model, self.method, x, y, batch_size=self.batch_size))
                positions.append(np.arange(start, stop, dtype=np.int64))
        rows = np.concatenate(positions)
        return {"row": rows, "score": np.concatenate(values), "pid": np.full(rows.size, os.getpid())}


def _own_error(e: BaseException) -> DataDietError | None:
    """The DataDietError a Ray (Data) error wraps, if any, as the in-process pass would raise it. Ray
    Data hands back the worker's error as text (a traceback whose last DataDietError line is it)."""
    seen = set()
    while isinstance(e, BaseException) and id(e) not in seen:
        seen.add(id(e))
        if type(e) is DataDietError:
            return e
        found = re.findall(r"DataDietError: (.+)", str(e))
        if found:
            return DataDietError(found[-1].strip())
        cause = getattr(e, "cause", None)
        e = cause if isinstance(cause, BaseException) else e.__cause__
    return None


@contextmanager
def _quiet_ray_data(ray):
    """Ray Data without progress bars or log lines on stderr (its errors are raised, not logged)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Ray's own settings, read on first use
        context = ray.data.DataContext.get_current()
    saved = (context.enable_progress_bars, context.print_on_execution_start)
    logger = logging.getLogger("ray.data")
    level = logger.level
    context.enable_progress_bars, context.print_on_execution_start = False, False
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        logger.setLevel(level)


class ShardedScoring:
    """Scores training sets in shards on Ray: ``workers`` actors x ``threads`` torch threads, on a local
    instance (default) or the cluster at ``address``. One Ray start serves every :meth:`score` call
    until :meth:`close`. ``shard_rows``: rows per shard (default: about 4 shards per worker, at most
    32,768 rows), rounded up to whole scoring batches. ``pids`` holds the worker processes of the last
    call."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        threads: int | None = None,
        address: str | None = None,
        shard_rows: int | None = None,
    ) -> None:
        self.ray = RayExecutor(address=address, workers=workers, threads=threads, retries=0)
        self.shard_rows = None if shard_rows is None else check_positive_int("shard_rows", shard_rows)
        self.pids: set[int] = set()

    @property
    def workers(self) -> int:
        return self.ray.workers

    def describe(self) -> dict:
        d = self.ray.describe()
        return {"score_workers": d["workers"], "score_threads": d["threads"], "score_address": d["address"]}

    def score(self, model, data, method: str, *, batch_size: int | None = None) -> np.ndarray:
        """``method``'s score of every training row of ``data``, float64, in row order: equal to the
        in-process ``MODEL_METHODS[method](model, x, y, batch_size=batch_size)`` on the CPU.

        ``model``: a module (shipped whole, once) or ``(build, state_dict)``, a picklable ``build()``
        that makes the untrained model and the weights to load (the weights shipped once)."""
        batch_size = method_batch_size(method) if batch_size is None else check_positive_int("batch_size", batch_size)
        rows = row_reader(data)
        n = len(rows)
        module, state = _model_parts(model)
        shard_rows = self.shard_rows or default_shard_rows(n, self.workers, batch_size)
        shards = plan_shards(n, shard_rows=shard_rows, batch_size=batch_size)
        if not shards:
            return np.empty(0, dtype=np.float64)
        ray = self.ray._connect()
        refs = {
            "model": _Ref(ray.put(module)),
            "state": None if state is None else _Ref(ray.put(state)),
            "rows": _Ref(ray.put(rows)),
        }
        try:
            with _quiet_ray_data(ray):
                parts = self._run(ray, shards, method, batch_size, refs)
                return merge_shards(n, parts)
        except Exception as e:
            own = _own_error(e)
            if own is None:
                raise
            raise own from None

    def _run(self, ray, shards, method, batch_size, refs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # max_restarts as a plain remote argument
            ds = self._dataset(ray, shards, method, batch_size, refs)
        self.pids = set()
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            self.pids.update(int(p) for p in np.unique(batch["pid"]))
            yield batch["row"], batch["score"]

    def _dataset(self, ray, shards, method, batch_size, refs):
        return ray.data.from_items(
            [{"start": a, "stop": b} for a, b in shards], override_num_blocks=len(shards)
        ).map_batches(
            ShardScorer,
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(shards))),
            num_cpus=1,
            fn_constructor_kwargs={"method": method, "batch_size": batch_size, "threads": self.ray.threads},
            fn_kwargs=refs,
            batch_format="numpy",
            **_NO_RESTARTS,
        )

    def close(self) -> None:
        self.ray.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _model_parts(model) -> tuple[nn.Module | Callable[[], nn.Module], dict | None]:
    """(what to ship as the model, the state dict to ship beside it or None)."""
    if isinstance(model, nn.Module):
        return model, None
    if isinstance(model, tuple) and len(model) == 2 and callable(model[0]) and isinstance(model[1], dict):
        return model[0], {k: v.detach().cpu() for k, v in model[1].items()}
    raise DataDietError(f"model must be a torch.nn.Module or a (build, state_dict) pair, got {type(model).__name__}")


def score_sharded(
    model,
    data,
    method: str,
    *,
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    shard_rows: int | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Score every training row of ``data`` by ``method`` in shards on Ray (see :class:`ShardedScoring`);
    the scores in row order, equal to the in-process pass to the last bit."""
    with ShardedScoring(workers=workers, threads=threads, address=address, shard_rows=shard_rows) as s:
        return s.score(model, data, method, batch_size=batch_size)


__all__ = ["ShardScorer", "ShardedScoring", "score_sharded"]

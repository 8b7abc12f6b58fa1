"""Sharded scoring wall time: one process with one thread against W Ray workers x T threads.

N synthetic 28x28 uint8 examples (10 classes) are written to a memory-mapped npy:DIR in a temporary
folder (chunk by chunk: never whole in memory). Both sides score the same rows with the same model
(built at a fixed seed; the cost of a scoring pass does not depend on its weights) by reading them
from the memory-mapped files: in-process, shard after shard in this process with 1 torch thread
(``score_shard`` over the same plan, which is one in-process pass to the bit); on Ray,
``score_sharded`` with W actors x T threads on a local instance. The Ray time includes Ray's start,
the actors' start-up and imports, and the merge. The two score arrays are checked equal (bitwise).
The source's per-channel mean/std (a streaming pass) is computed once, before both.

    .venv/bin/python bench/sharded_scoring.py                 # 200,000 examples, 2 workers x 1 thread
    .venv/bin/python bench/sharded_scoring.py --n 5000        # a quick check that it runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from datadiet.data.rows import SourceRows
from datadiet.data.sources import NpySource
from datadiet.experiments import ShardedScoring
from datadiet.models import build_model
from datadiet.runs import runtime_info
from datadiet.scores.shards import default_shard_rows, merge_shards, method_batch_size, plan_shards, score_shard

CHUNK = 50_000  # rows written at a time


def write_arrays(folder: Path, n: int, n_test: int = 1000, seed: int = 0) -> None:
    """x_train (n, 28, 28) uint8 and labels, written chunk by chunk into .npy files (memory-mapped)."""
    rng = np.random.default_rng(seed)
    for part, rows in (("train", n), ("test", n_test)):
        x = np.lib.format.open_memmap(folder / f"x_{part}.npy", mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
        for start in range(0, rows, CHUNK):
            stop = min(rows, start + CHUNK)
            x[start:stop] = rng.integers(0, 256, (stop - start, 28, 28), dtype=np.uint8)
        x.flush()
        del x
        np.save(folder / f"y_{part}.npy", np.arange(rows, dtype=np.int64) % 10)


def in_process(model, rows: SourceRows, method: str, shards, batch_size: int) -> np.ndarray:
    """One process: the shards one after another (the same batches as one pass over all rows)."""
    parts = [(np.arange(a, b), score_shard(model, method, *rows.read(a, b), batch_size=batch_size)) for a, b in shards]
    return merge_shards(len(rows), parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="training examples")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per Ray worker")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--method", default="el2n")
    args = ap.parse_args()
    batch = method_batch_size(args.method)
    print(f"runtime: {runtime_info()}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_arrays(Path(tmp), args.n)
        source = NpySource(tmp)
        rows = SourceRows(source)  # the mean/std pass, once
        print(
            f"data: {args.n:,} synthetic 28x28 uint8 examples in npy:{tmp} ({time.perf_counter() - t0:.1f} s to write)"
        )
        model = build_model(args.model, source.input_shape, 10, seed=0)
        shards = plan_shards(args.n, shard_rows=default_shard_rows(args.n, args.workers, batch), batch_size=batch)
        print(f"scoring: {args.method}, model {args.model}, {len(shards)} shards of up to {shards[0][1]:,} rows")

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        here = in_process(model, rows, args.method, shards, batch)
        t_here = time.perf_counter() - t0
        print(f"in-process, 1 thread: {t_here:.1f} s", flush=True)

        t0 = time.perf_counter()
        with ShardedScoring(workers=args.workers, threads=args.threads) as s:
            there = s.score(model, source, args.method)
            pids = len(s.pids)
        t_ray = time.perf_counter() - t0
        print(f"Ray, {args.workers} workers x {args.threads} thread(s): {t_ray:.1f} s ({pids} worker processes)")
    same = np.array_equal(here, there)
    print()
    print("| scoring | wall time (s) |")
    print("|---|---|")
    print(f"| in-process, 1 thread | {t_here:.1f} |")
    print(f"| Ray, {args.workers} workers x {args.threads} thread (start-up included) | {t_ray:.1f} |")
    print(f"\nratio Ray / in-process: {t_ray / t_here:.3f}  (target <= 0.6); tables equal to the bit: {same}")
    if not same:
        raise SystemExit("the tables differ")


if __name__ == "__main__":
    main()

"""Sweep wall time: the in-process executor against Ray with W workers x T threads.

Both run the same sweep from an empty output folder (Ray's start-up and the workers' imports are
inside the Ray time), alternating in-process, Ray, in-process, ...; the table shows each run and the
median ratio. The tables the two produce are checked equal (wall-clock columns aside).

    .venv/bin/python bench/executors.py                       # mnist1d, 2 workers x 1 thread
    .venv/bin/python bench/executors.py --repeats 1 --quick   # a short run
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pandas as pd
import torch

from datadiet.experiments import DatasetSpec, InProcess, RayExecutor, SweepConfig, run_sweep
from datadiet.runs import runtime_info
from datadiet.training import TrainConfig

VARIES = ["train_seconds", "scoring_seconds", "run_dir", "threads"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per Ray worker")
    ap.add_argument("--inprocess-threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    data = DatasetSpec("mnist1d", samples=5000).resolve()  # 4,000 training examples
    cfg = SweepConfig(
        methods=("random", "el2n", "grand"),
        fractions=(0.0, 0.5) if args.quick else (0.0, 0.3, 0.5, 0.7),
        seeds=3,
        train=TrainConfig(model="mlp", epochs=8 if args.quick else args.epochs, batch_size=32),
        score_seeds=2,
        score_epoch=2,
    )
    print(f"runtime: {runtime_info()}")
    print(
        f"sweep: mnist1d 4k, mlp, batch {cfg.train.batch_size}, {cfg.train.epochs} epochs, methods {cfg.methods}, "
        f"fractions {cfg.fractions}, {cfg.seeds} seeds, {cfg.score_seeds} scoring seeds"
    )
    rows = []
    tables = {}
    for r in range(args.repeats):
        for name in ("inprocess", "ray"):
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                if name == "inprocess":
                    res = run_sweep(data, cfg, out=out, executor=InProcess(threads=args.inprocess_threads))
                else:
                    with RayExecutor(workers=args.workers, threads=args.threads) as ex:
                        res = run_sweep(data, cfg, out=out, executor=ex)
                seconds = time.perf_counter() - t0
            tables[name] = res.results.drop(columns=VARIES)
            rows.append({"repeat": r, "executor": name, "seconds": seconds})
            print(f"repeat {r} {name}: {seconds:.1f} s ({len(res.results)} cells)", flush=True)
    same = tables["inprocess"].equals(tables["ray"])
    df = pd.DataFrame(rows)
    med = df.groupby("executor")["seconds"].median()
    ratios = [
        df[(df.repeat == r) & (df.executor == "ray")].seconds.item()
        / df[(df.repeat == r) & (df.executor == "inprocess")].seconds.item()
        for r in range(args.repeats)
    ]
    print()
    print("| executor | wall time (s, median) |")
    print("|---|---|")
    print(f"| in-process ({args.inprocess_threads} threads) | {med['inprocess']:.1f} |")
    print(f"| Ray ({args.workers} workers x {args.threads} thread) | {med['ray']:.1f} |")
    print(
        f"ratio Ray / in-process: median {statistics.median(ratios):.2f} (per repeat: {', '.join(f'{x:.2f}' for x in ratios)})"
    )
    print(f"tables equal (accuracies, sizes, steps): {same} (equal only with equal threads per job)")


if __name__ == "__main__":
    main()

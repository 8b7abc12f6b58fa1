"""Dynamic pruning's overhead: examples/second of RS2 and InfoBatch against a static subset of the
same size, in the same run.

    .venv/bin/python bench/dynamic.py [--dataset fashion-mnist] [--epochs 3] [--fraction 0.3] [--repeats 3]

Each training run trains the default CNN for ``--epochs`` epochs. The static baseline trains on a
random subset of ``1 - fraction`` of the data. RS2 trains on the same number of examples per epoch,
and InfoBatch on about that many. The dynamic runs add, per step, a per-example loss, its weights
and the sampler's bookkeeping (InfoBatch: every example's latest loss; a new plan each epoch). Runs
alternate (static, rs2, infobatch, static, ...), so load from other processes hits all alike. The
median examples/second of each is reported, with its ratio to the static baseline's (target >= 0.95:
dynamic pruning's saving is not eaten by its bookkeeping).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from datadiet.data import load_dataset
from datadiet.training import TrainConfig, train
from datadiet.training.dynamic import DynamicPruning


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)  # InfoBatch prunes from 3 epochs
    ap.add_argument("--fraction", type=float, default=0.3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset)
    cfg = TrainConfig(model="cnn", epochs=args.epochs)
    n = ds.num_train
    subset = np.sort(np.random.default_rng(0).choice(n, n - round(args.fraction * n), replace=False))
    runs = {
        "static random subset": lambda: train(ds, cfg, subset=subset),
        "rs2": lambda: train(ds, cfg, dynamic=DynamicPruning("rs2", args.fraction)),
        "infobatch": lambda: train(ds, cfg, dynamic=DynamicPruning("infobatch", args.fraction)),
    }
    speed: dict[str, list[float]] = {k: [] for k in runs}
    seen: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            r = run()
            speed[name].append(r.examples_seen / r.seconds)
            seen[name] = r.examples_seen
    base = statistics.median(speed["static random subset"])
    print(
        f"{args.dataset}, cnn, {args.epochs} epochs, fraction {args.fraction}, {args.threads} threads, "
        f"median of {args.repeats}"
    )
    print("| run | examples trained | examples/s (median) | ratio to static |")
    print("|---|---|---|---|")
    for name in runs:
        med = statistics.median(speed[name])
        print(f"| {name} | {seen[name]:,} | {med:,.0f} | {med / base:.3f} |")


if __name__ == "__main__":
    main()

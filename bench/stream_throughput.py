"""Streaming trainer throughput: training on a memory-mapped npy:DIR against the same data in memory.

Fashion-MNIST's raw uint8 arrays (the IDX files ``load_dataset("fashion-mnist")`` reads) are saved
with ``np.save`` into an ``npy:DIR`` in a temporary folder. ``NpySource(DIR)`` is the streaming side
(batches read through a DataLoader with ``--workers`` worker processes); its ``to_dataset()`` (the
same arrays in memory, the same normalisation: bitwise the same batches) is the in-memory side. Both
train with the same ``TrainConfig`` (default CNN, batch 128, no augmentation) for ``--steps``
optimiser steps (``stop_at``). The source's fingerprint and mean/std passes are done once, before the
runs (as loading is for the in-memory side); the DataLoader's worker start-up is inside each
streaming run's time (``TrainResult.seconds``: the training loop, not the final test evaluation).

Runs alternate (in-memory, streaming with each worker count, in-memory, ...), median of
``--repeats``. Target (issue 20): streaming >= 0.8x the in-memory examples/second.

    .venv/bin/python bench/stream_throughput.py                            # 500 steps (past one epoch), workers 0,1,2
    .venv/bin/python bench/stream_throughput.py --steps 30 --repeats 1     # a quick check
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from datadiet.data import loaders
from datadiet.data.sources import NpySource
from datadiet.runs import runtime_info
from datadiet.training import TrainConfig, train


def write_fashion_mnist(folder: Path, data_dir: str | None) -> None:
    """Fashion-MNIST's raw uint8 images and labels as x_train.npy, y_train.npy, x_test.npy, y_test.npy."""
    raw = loaders.load_idx_dir(loaders.fashion_mnist_dir(data_dir), dataset="fashion-mnist", hint=loaders.FASHION_HINT)
    for k in ("x_train", "y_train", "x_test", "y_test"):
        np.save(folder / f"{k}.npy", raw[k])
    (folder / "class_names.txt").write_text("\n".join(loaders.FASHION_MNIST_CLASSES) + "\n")


def rate(data, cfg: TrainConfig, steps: int, workers: int) -> float:
    """Examples per second of the training loop (``TrainResult.seconds``)."""
    r = train(data, cfg, stop_at=steps, num_workers=workers)
    return r.examples_seen / r.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", default="0,1,2", help="DataLoader worker processes, comma-separated")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the training process")
    ap.add_argument("--data-dir", help="folder with Fashion-MNIST's IDX files (default: as load_dataset finds it)")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(model=args.model, augment=False)
    print(f"runtime: {runtime_info()}")
    with tempfile.TemporaryDirectory() as tmp:
        write_fashion_mnist(Path(tmp), args.data_dir)
        source = NpySource(tmp)
        _ = source.mean_std  # the fingerprint and mean/std passes, once
        memory = source.to_dataset()
        print(
            f"Fashion-MNIST as npy:{tmp} ({source.num_train:,} training examples); model {args.model}, batch "
            f"{cfg.batch_size}, {args.steps} steps x {args.repeats} alternating repeats, torch threads "
            f"{torch.get_num_threads()}",
            flush=True,
        )
        rate(memory, cfg, 5, 0)  # warm-up
        mem_rates, stream_rates = [], {w: [] for w in workers}
        for i in range(args.repeats):
            mem_rates.append(rate(memory, cfg, args.steps, 0))
            for w in workers:
                stream_rates[w].append(rate(source, cfg, args.steps, w))
            print(
                f"repeat {i}: in-memory {mem_rates[-1]:,.0f}; "
                + "; ".join(f"streaming, {w} workers {stream_rates[w][-1]:,.0f}" for w in workers)
                + " examples/s",
                flush=True,
            )
    base = statistics.median(mem_rates)
    print()
    print("| trainer | DataLoader workers | examples/s (median) | ratio to in-memory |")
    print("|---|---:|---:|---:|")
    print(f"| in memory | - | {base:,.0f} | 1.000 |")
    for w in workers:
        r = statistics.median(stream_rates[w])
        print(f"| streaming from npy:DIR | {w} | {r:,.0f} | {r / base:.3f} |")
    best = max(workers, key=lambda w: statistics.median(stream_rates[w]))
    print(f"\nbest worker count: {best}, ratio {statistics.median(stream_rates[best]) / base:.3f} (target >= 0.8)")


if __name__ == "__main__":
    main()

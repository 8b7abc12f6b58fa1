"""Scoring cost as the dataset grows, and GraNd's peak memory against dataset and batch size.

1. Time: MNIST-1D with 4k, 16k and 64k training examples (``--samples`` 5k, 20k, 80k with its 80/20
   split); one scoring seed of an MLP trained 1 epoch, then EL2N and GraNd on every example. Time per
   example should stay flat (linear total time).
2. Memory: each (N, batch size) runs GraNd in a fresh process and reports how far the C heap in use
   (glibc ``mallinfo2``, where torch's CPU tensors live) rises above its level before the call,
   sampled every 0.2 ms while it runs, with the data and model already loaded; it should follow the
   batch size, not N.

    .venv/bin/python bench/scaling.py            # both parts
    .venv/bin/python bench/scaling.py --memory   # the memory part only
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import tempfile
import time

SIZES = {4000: 5000, 16000: 20000, 64000: 80000}  # training examples: samples to generate


def timing(threads: int) -> None:
    import torch

    from datadiet.experiments import DatasetSpec, ScoreConfig, score_dataset
    from datadiet.runs import runtime_info
    from datadiet.training import TrainConfig

    torch.set_num_threads(threads)
    print(f"runtime: {runtime_info()}")
    tcfg = TrainConfig(model="mlp", epochs=2, batch_size=128)
    print("| training examples | train 1 epoch (s) | EL2N (s) | GraNd (s) | total per 1k examples (s) |")
    print("|---|---|---|---|---|")
    for n, samples in SIZES.items():
        data = DatasetSpec("mnist1d", samples=samples).resolve()
        assert data.load().num_train == n
        with tempfile.TemporaryDirectory() as out:
            el2n = score_dataset(data, ScoreConfig(method="el2n", epoch=1, seeds=(0,), train=tcfg), out=out)
            t0 = time.perf_counter()
            grand = score_dataset(data, ScoreConfig(method="grand", epoch=1, seeds=(0,), train=tcfg), out=out)
            assert time.perf_counter() - t0 >= grand.cost["score_seconds"]
        train_s, el2n_s, grand_s = el2n.cost["train_seconds"], el2n.cost["score_seconds"], grand.cost["score_seconds"]
        total = train_s + el2n_s + grand_s
        print(f"| {n:,} | {train_s:.2f} | {el2n_s:.2f} | {grand_s:.2f} | {1000 * total / n:.3f} |", flush=True)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _heap_in_use() -> int:
    """Bytes the C heap has handed out and not taken back (glibc ``mallinfo2``: ``uordblks`` + ``hblkhd``).

    Unlike the resident size, this does not hide an allocation that reuses memory freed earlier
    (loading the data leaves plenty), so it shows what one call really holds at its peak."""
    m = _LIBC.mallinfo2()
    return m.uordblks + m.hblkhd


_LIBC = ctypes.CDLL(None)
_LIBC.mallinfo2.restype = _MallInfo2


def _grand_peak(n: int, batch: int) -> dict:
    """In this (fresh) process: the peak heap in use above the level before one GraNd call over n
    examples, sampled every 0.2 ms by a thread (torch's kernels release the GIL)."""
    import threading

    import torch

    from datadiet.data import load_dataset
    from datadiet.models import build_model
    from datadiet.scores import grand

    torch.set_num_threads(1)
    ds = load_dataset("mnist1d", samples=SIZES[n])
    model = build_model("mlp", ds.input_shape, ds.num_classes, seed=0)
    grand(model, ds.x_train[:8], ds.y_train[:8], batch_size=8)  # warm-up (kernels), without a full batch
    before = _heap_in_use()
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _heap_in_use())
            time.sleep(0.0002)

    t = threading.Thread(target=sample)
    t.start()
    grand(model, ds.x_train, ds.y_train, batch_size=batch)
    stop.set()
    t.join()
    return {
        "n": n,
        "batch": batch,
        "peak_growth_mib": (peak[0] - before) / 2**20,
        "baseline_mib": before / 2**20,
        "data_mib": (ds.x_train.nbytes + ds.x_test.nbytes) / 2**20,
    }


def memory() -> None:
    print(
        "| training examples | batch size | peak heap rise during GraNd (MiB) | heap in use before (MiB) | of which the data (MiB) |"
    )
    print("|---|---|---|---|---|")
    for batch in (256, 2048):
        for n in SIZES:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", str(n), str(batch)], capture_output=True, text=True, check=True
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"| {n:,} | {batch} | {r['peak_growth_mib']:.1f} | {r['baseline_mib']:.0f} | {r['data_mib']:.0f} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory", action="store_true", help="only the memory part")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_grand_peak(*args.one)))
        return
    if not args.memory:
        timing(args.threads)
        print()
    memory()


if __name__ == "__main__":
    main()

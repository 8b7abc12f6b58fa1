"""Peak memory of scoring memory-mapped arrays: EL2N over N synthetic 28x28 examples in a fresh process.

For each N, N synthetic 28x28 uint8 examples (10 classes; 1,000 test examples) are written chunk by
chunk into ``DIR/x_train.npy`` etc. with ``np.lib.format.open_memmap`` (never whole in memory), then
a fresh Python process (this script with ``--child``) does what a user pays for one scoring pass:

1. ``NpySource(DIR)`` (memory-mapped);
2. its fingerprint (one streaming pass that also checks every row) and per-channel mean/std (two
   more streaming passes);
3. ``datadiet.scores.el2n(model, source)`` over every training example (one batch read per call),
   the model built at a fixed seed (random weights: speed and memory do not depend on them).

The child reports its peak resident set (``VmHWM``, equal to ``ru_maxrss``) and, split out of it,
the peak of its anonymous memory (``RssAnon``, sampled every 5 ms: what it allocated) and of the
file pages of the memory-mapped arrays it has touched (``RssFile``: page cache mapped into the
process, which the kernel can drop but which ``ru_maxrss`` counts). Targets (issue 20): peak RSS under
2 GiB and flat from 100k to 1M examples; the ratio RSS(largest N) / RSS(smallest N) is printed.

    .venv/bin/python bench/memmap_scoring.py                      # N = 100,000 and 1,000,000
    .venv/bin/python bench/memmap_scoring.py --n 20000,60000      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CHUNK = 50_000  # rows written at a time
MiB = 1 << 20


def write_arrays(folder: Path, n: int, n_test: int = 1000, seed: int = 0) -> None:
    """x (rows, 28, 28) uint8 and int64 labels for train and test, written chunk by chunk (memory-mapped)."""
    rng = np.random.default_rng(seed)
    for part, rows in (("train", n), ("test", n_test)):
        x = np.lib.format.open_memmap(folder / f"x_{part}.npy", mode="w+", dtype=np.uint8, shape=(rows, 28, 28))
        y = np.lib.format.open_memmap(folder / f"y_{part}.npy", mode="w+", dtype=np.int64, shape=(rows,))
        for start in range(0, rows, CHUNK):
            stop = min(rows, start + CHUNK)
            x[start:stop] = rng.integers(0, 256, (stop - start, 28, 28), dtype=np.uint8)
            y[start:stop] = np.arange(start, stop) % 10
        x.flush()
        y.flush()
        del x, y


def status_kib() -> dict[str, int]:
    """The memory lines of /proc/self/status, in KiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0])
    return out


class Sampler(threading.Thread):
    """Peaks of RssAnon and RssFile, read every ``period`` seconds (the kernel keeps only VmHWM)."""

    def __init__(self, period: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.period, self.peak, self.stop = period, {"RssAnon": 0, "RssFile": 0}, threading.Event()
        self.lap_peak = 0

    def lap(self) -> int:
        """The anonymous peak (KiB) since the last lap, then start a new one."""
        self.sample()
        peak, self.lap_peak = self.lap_peak, 0
        return peak

    def sample(self) -> None:
        now = status_kib()
        for k in self.peak:
            self.peak[k] = max(self.peak[k], now[k])
        self.lap_peak = max(self.lap_peak, now["RssAnon"])

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(self.period)


def child(folder: str, model_name: str, threads: int) -> None:
    """One scoring pass as a user runs it; prints one JSON line of timings and memory."""
    import torch

    from datadiet.data.sources import NpySource
    from datadiet.models import build_model
    from datadiet.scores import el2n

    torch.set_num_threads(threads)
    model = build_model(model_name, (1, 28, 28), 10, seed=0)
    before = status_kib()  # interpreter, torch and the model
    sampler = Sampler()
    sampler.start()
    t0 = time.perf_counter()
    source = NpySource(folder)
    _ = source.fingerprint
    t1 = time.perf_counter()
    laps = [sampler.lap()]
    _ = source.mean_std
    t2 = time.perf_counter()
    laps.append(sampler.lap())
    scores = el2n(model, source)
    t3 = time.perf_counter()
    laps.append(sampler.lap())
    sampler.stop.set()
    sampler.join()
    sampler.sample()
    end = status_kib()
    assert scores.shape == (source.num_train,) and np.isfinite(scores).all()
    print(
        json.dumps(
            {
                "n": source.num_train,
                "fingerprint_s": t1 - t0,
                "mean_std_s": t2 - t1,
                "el2n_s": t3 - t2,
                "hwm_kib": end["VmHWM"],
                "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "before_kib": before["VmRSS"],
                "anon_before_kib": before["RssAnon"],
                "anon_peak_kib": sampler.peak["RssAnon"],
                "file_peak_kib": sampler.peak["RssFile"],
                "scores_mib": scores.nbytes / MiB,
                "anon_peak_by_stage_kib": laps,  # fingerprint, mean/std, EL2N
            }
        )
    )


def measure(n: int, root: Path, model: str, threads: int) -> dict:
    folder = root / f"n{n}"
    folder.mkdir()
    t0 = time.perf_counter()
    write_arrays(folder, n)
    print(f"N={n:,}: wrote {folder} ({time.perf_counter() - t0:.1f} s)", flush=True)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        str(folder),
        "--model",
        model,
        "--threads",
        str(threads),
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["wall_s"] = time.perf_counter() - t0
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="100000,1000000", help="training examples, comma-separated")
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the scoring process")
    ap.add_argument("--dir", help="folder for the arrays (default: a temporary folder)")
    ap.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.model, args.threads)
    sizes = [int(s) for s in args.n.split(",")]
    print(f"EL2N of the {args.model} (random init, seed 0), {args.threads} torch thread(s), one fresh process per N")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows = [measure(n, Path(tmp), args.model, args.threads) for n in sizes]
    print()
    print(
        "| examples | data on disk (MiB) | wall (s) | fingerprint pass (s) | mean/std passes (s) | EL2N (s) "
        "| EL2N examples/s | peak RSS, VmHWM (MiB) | peak anonymous (MiB) | peak mapped file pages (MiB) "
        "| peak anonymous in: fingerprint / mean-std / EL2N (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['n']:,} | {r['n'] * 784 / MiB:,.0f} | {r['wall_s']:.1f} | {r['fingerprint_s']:.1f} "
            f"| {r['mean_std_s']:.1f} | {r['el2n_s']:.1f} | {r['n'] / r['el2n_s']:,.0f} | {r['hwm_kib'] / 1024:,.0f} "
            f"| {r['anon_peak_kib'] / 1024:,.0f} | {r['file_peak_kib'] / 1024:,.0f} "
            f"| {' / '.join(f'{k / 1024:,.0f}' for k in r['anon_peak_by_stage_kib'])} |"
        )
    lo, hi = rows[0], rows[-1]
    print(
        f"\nbefore the source was opened (interpreter, torch, model): {lo['before_kib'] / 1024:,.0f} MiB resident, "
        f"{lo['anon_before_kib'] / 1024:,.0f} MiB anonymous"
    )
    print(
        f"ratio peak RSS N={hi['n']:,} / N={lo['n']:,}: {hi['hwm_kib'] / lo['hwm_kib']:.3f} "
        f"(target: flat, and under 2 GiB: {max(r['hwm_kib'] for r in rows) < 2 * 1024 * 1024}); "
        f"anonymous only: {hi['anon_peak_kib'] / lo['anon_peak_kib']:.3f}"
    )


if __name__ == "__main__":
    main()

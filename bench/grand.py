"""Throughput of GraNd (per-example gradient norms) and EL2N scoring on CPU.

Compares, on the same model and data, examples/second of

* ``fwd+bwd``: a plain batched forward + backward of the mean cross-entropy (batch 256, eval mode):
  the baseline every GraNd method is divided by;
* ``grand``: :func:`datadiet.scores.grand` (exact; hooks + one batched backward);
* ``grand_loop``: :func:`datadiet.scores.grand_loop` (one backward per example; on a subset);
* ``torch.func vmap(grad)``: per-example gradients by ``vmap(grad(...))``, then their norms;
* ``BackPACK BatchL2Grad`` and ``Opacus GradSampleModule`` where they are installed and support
  the model;
* ``el2n`` against a bare ``no_grad`` forward pass (batch 1024).

Each method runs once to warm up (those values are checked against ``grand_loop`` on the examples
it scored: the last column), then ``--repeats`` rounds in which every method runs once in turn;
the table shows the median (default 3 rounds). Run from the repository root::

    .venv/bin/python bench/grand.py            # full run (minutes on 2 idle cores)
    .venv/bin/python bench/grand.py --quick    # short run
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from datadiet.models import build_model
from datadiet.scores import el2n, grand, grand_loop

BATCH = 256


def load_data(n: int, shape, classes: int, *, real: bool):
    if real:
        try:
            from datadiet.data import load_dataset

            ds = load_dataset("fashion-mnist")
            return ds.x_train[:n].contiguous(), ds.y_train[:n].contiguous(), f"Fashion-MNIST train[:{n}]"
        except Exception as e:
            why = f"{type(e).__name__}"
    else:
        why = "no real set for this shape"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y, f"random N(0,1) {tuple(shape)} x {n} ({why})"


# ---- the methods: each returns per-example GraNd (or None for the baselines) ------------------


def fwd_bwd(model, x, y):
    for i in range(0, x.shape[0], BATCH):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[i : i + BATCH]), y[i : i + BATCH]).backward()
    model.zero_grad(set_to_none=True)


def fwd_only(model, x, y):
    with torch.no_grad():
        for i in range(0, x.shape[0], 1024):
            model(x[i : i + 1024])


def ours(model, x, y):
    return grand(model, x, y, batch_size=BATCH)


def loop(model, x, y):
    return grand_loop(model, x, y)


def vmap_grad(model, x, y):
    from torch.func import functional_call, grad, vmap

    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    buffers = {k: b for k, b in model.named_buffers()}

    def loss_one(p, xi, yi):
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(out, yi.unsqueeze(0))

    per_ex = vmap(grad(loss_one), in_dims=(None, 0, 0))
    out = []
    for i in range(0, x.shape[0], BATCH):
        gs = per_ex(params, x[i : i + BATCH], y[i : i + BATCH])
        out.append(sum(g.flatten(1).double().square().sum(1) for g in gs.values()).sqrt())
    return torch.cat(out).numpy()


def make_backpack(model):
    from backpack import backpack, extend
    from backpack.extensions import BatchL2Grad

    bm = extend(copy.deepcopy(model).eval())
    lossf = extend(nn.CrossEntropyLoss(reduction="sum"))

    def run(_model, x, y):
        out = []
        for i in range(0, x.shape[0], BATCH):
            bm.zero_grad(set_to_none=True)
            with backpack(BatchL2Grad()):
                lossf(bm(x[i : i + BATCH]), y[i : i + BATCH]).backward()
            out.append(sum(p.batch_l2.double() for p in bm.parameters() if p.requires_grad).sqrt())
        return torch.cat(out).numpy()

    return run


def make_opacus(model, x, y, n_loop):
    """Opacus on the model; if it refuses the model's BatchNorm layers (they have buffers), on a
    copy with the BatchNorm parameters frozen, checked against ``grand`` on that same copy."""
    from opacus import GradSampleModule

    net, note, ref = copy.deepcopy(model).eval(), "", None
    try:
        gm = GradSampleModule(net, batch_first=True, loss_reduction="sum")
    except NotImplementedError:
        net = copy.deepcopy(model).eval()
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.requires_grad_(False)
        note = " (refuses BatchNorm: run with BN params frozen; diff vs grand on that model)"
        ref = grand(net, x[:n_loop], y[:n_loop])
        gm = GradSampleModule(net, batch_first=True, loss_reduction="sum")
    gm.eval()
    for m in net.modules():  # Opacus records activations only in train mode; these layers don't care
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            m.train()

    def run(_model, x, y):
        out = []
        for i in range(0, x.shape[0], BATCH):
            gm.zero_grad(set_to_none=True)
            F.cross_entropy(gm(x[i : i + BATCH]), y[i : i + BATCH], reduction="sum").backward()
            sq = sum(p.grad_sample.flatten(1).double().square().sum(1) for p in gm.parameters() if p.requires_grad)
            out.append(sq.sqrt())
        gm.zero_grad(set_to_none=True)
        return torch.cat(out).numpy()

    return f"Opacus GradSampleModule{note}", run, ref


def optional(label, factory, *args):
    """(label, fn, ref) if the library is installed and supports the model, else (label, reason, None)."""
    try:
        made = factory(*args)
    except ImportError:
        return label, "not installed", None
    except Exception as e:
        return label, f"unsupported here ({type(e).__name__}: {str(e).splitlines()[0][:60]})", None
    return made if isinstance(made, tuple) else (label, made, None)


# ---- timing ------------------------------------------------------------------------------------


def bench_model(title, model, x, y, *, n_loop, repeats):
    model.eval()
    xs, ys = x[:n_loop], y[:n_loop]
    methods = [
        ("plain fwd+bwd, mean CE (baseline)", fwd_bwd, None),
        ("**grand** (this package, exact)", ours, None),
        ("grand_loop (per-example loop)", loop, None),
        ("torch.func vmap(grad)", vmap_grad, None),
        optional("BackPACK BatchL2Grad", make_backpack, model),
        optional("Opacus GradSampleModule", make_opacus, model, x, y, n_loop),
    ]
    scoring = [
        ("bare no_grad forward (baseline)", fwd_only),
        ("**el2n** (this package)", lambda m, a, b: el2n(m, a, b)),
    ]
    data = {lab: ((xs, ys) if fn is loop else (x, y)) for lab, fn, *_ in methods + scoring}

    runnable = [(lab, fn) for lab, fn, *_ in methods + scoring if callable(fn)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = {lab: fn(model, *data[lab]) for lab, fn in runnable}  # warm-up, and the values
        times = {lab: [] for lab, _ in runnable}
        for _ in range(repeats):
            for lab, fn in runnable:
                t = time.perf_counter()
                fn(model, *data[lab])
                times[lab].append(time.perf_counter() - t)
    rate = {lab: data[lab][0].shape[0] / statistics.median(times[lab]) for lab, _ in runnable}
    loop_ref = values["grand_loop (per-example loop)"]

    lines = [
        f"**{title}**",
        "",
        "| method | examples/s | × plain fwd+bwd | max rel. diff vs grand_loop |",
        "|---|---:|---:|---:|",
    ]
    base = rate[methods[0][0]]
    for lab, fn, ref in methods:
        if not callable(fn):
            lines.append(f"| {lab} | {fn} | – | – |")
            continue
        v, ref = values[lab], loop_ref if ref is None else ref
        diff = "–" if v is None else f"{np.max(np.abs(np.asarray(v)[:n_loop] - ref) / ref):.1e}"
        lines.append(f"| {lab} | {rate[lab]:,.0f} | {rate[lab] / base:.2f} | {diff} |")
    lines += ["", "| method | examples/s | × bare forward |", "|---|---:|---:|"]
    fbase = rate[scoring[0][0]]
    for lab, _ in scoring:
        lines.append(f"| {lab} | {rate[lab]:,.0f} | {rate[lab] / fbase:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer examples and repeats")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3, quick 2)")
    ap.add_argument("--no-resnet", action="store_true", help="skip the ResNet-18 model")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 3)
    n, n_loop = (512, 64) if args.quick else (2048, 128)
    t0 = time.time()
    load0 = os.getloadavg()

    x, y, src = load_data(n, (1, 28, 28), 10, real=True)
    cnn = build_model("cnn", (1, 28, 28), 10, seed=0)
    out = [
        bench_model(
            f"small CNN `build_model('cnn', (1, 28, 28), 10)`, {src}", cnn, x, y, n_loop=n_loop, repeats=repeats
        )
    ]
    if not args.no_resnet:
        nr, nr_loop = (128, 16) if args.quick else (512, 32)
        xr, yr, srcr = load_data(nr, (3, 32, 32), 10, real=False)
        rn = build_model("resnet18", (3, 32, 32), 10, width=0.25, seed=0)
        out.append(
            bench_model(
                f"ResNet-18 width 0.25 `build_model('resnet18', (3, 32, 32), 10, width=0.25)`, {srcr}",
                rn,
                xr,
                yr,
                n_loop=nr_loop,
                repeats=repeats,
            )
        )
    load1 = os.getloadavg()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; 1-min load average {load0[0]:.1f} before, {load1[0]:.1f} after; "
        f"median of {repeats} rounds; {time.time() - t0:.0f} s\n"
    )
    print("\n\n".join(out))


if __name__ == "__main__":
    main()

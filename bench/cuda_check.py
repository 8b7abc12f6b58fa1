"""The CUDA path, checked on a machine with a GPU (nothing in the test suite needs one).

1. GraNd, EL2N and loss of a trained CNN on CUDA against a naive float64 per-example loop on the CPU.
2. A training run on CUDA, then the same run on the CPU: accuracies close (not bit-equal: kernels differ).
3. A sweep with ``device="cuda"`` (in-process), its table.

    PYTHONPATH=src python3 bench/cuda_check.py --out /tmp/cuda-check
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from datadiet.experiments import DatasetSpec, SweepConfig, run_sweep, train_in_run_dir
from datadiet.scores import el2n, grand, loss
from datadiet.training import TrainConfig
from datadiet.training.device import resolve_device


def naive(model, x, y):
    """Per-example float64 GraNd, EL2N and loss on the CPU, one example at a time."""
    m = model.to("cpu").double().eval()
    params = [p for p in m.parameters() if p.requires_grad]
    g_out, e_out, l_out = [], [], []
    for i in range(x.shape[0]):
        logits = m(x[i : i + 1].double())
        ce = F.cross_entropy(logits, y[i : i + 1])
        grads = torch.autograd.grad(ce, params)
        g_out.append(float(torch.sqrt(sum((g**2).sum() for g in grads))))
        p = logits.softmax(1)[0]
        e_out.append(float((p - F.one_hot(y[i], p.numel()).double()).norm().detach()))
        l_out.append(float(ce.detach()))
    return np.array(g_out), np.array(e_out), np.array(l_out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/cuda-check")
    args = ap.parse_args()
    device = resolve_device("cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    data = DatasetSpec("digits").resolve()
    ds = data.load()
    cfg = TrainConfig(model="cnn", epochs=3, batch_size=64)

    t0 = time.perf_counter()
    on_gpu = train_in_run_dir(data, cfg, f"{args.out}/gpu", device=device)
    gpu_s = time.perf_counter() - t0
    on_cpu = train_in_run_dir(data, cfg, f"{args.out}/cpu", device="cpu")
    print(
        f"train cnn 3 epochs: cuda accuracy {on_gpu['test_accuracy']:.4f} ({gpu_s:.1f}s, device "
        f"{on_gpu['runtime']['device']}), cpu accuracy {on_cpu['test_accuracy']:.4f}"
    )

    from datadiet.models import build_model

    model = build_model("cnn", ds.input_shape, ds.num_classes, seed=0)
    model.load_state_dict(torch.load(f"{on_gpu['run_dir']}/model.pt", weights_only=True))
    x, y = ds.x_train[:256], ds.y_train[:256]
    cpu_model = build_model("cnn", ds.input_shape, ds.num_classes, seed=0)
    cpu_model.load_state_dict(model.state_dict())
    on_cpu = {"grand": grand(cpu_model, x, y), "el2n": el2n(cpu_model, x, y), "loss": loss(cpu_model, x, y)}
    model = model.to(device)
    got = {"grand": grand(model, x, y), "el2n": el2n(model, x, y), "loss": loss(model, x, y)}
    ref = dict(zip(("grand", "el2n", "loss"), naive(model, x, y)))
    worst = {}
    for name in got:
        for where, vals in (("cuda", got[name]), ("cpu", on_cpu[name])):
            err = np.abs(vals - ref[name])
            rel = err / np.maximum(np.abs(ref[name]), 1e-12)
            i = int(np.argmax(rel))
            print(
                f"{name} on {where} vs naive float64 loop, 256 examples: max relative error {rel[i]:.2e} "
                f"(value {ref[name][i]:.3e}, abs error {err[i]:.1e}); max abs error {err.max():.1e} "
                f"of max value {np.abs(ref[name]).max():.3e}"
            )
            worst[(name, where)] = err.max() / np.abs(ref[name]).max()
    assert all(v < 1e-4 for v in worst.values()), worst

    sweep = SweepConfig(
        methods=("random", "el2n", "grand", "forgetting"),
        fractions=(0.0, 0.5),
        seeds=1,
        train=TrainConfig(model="cnn", epochs=4, batch_size=64),
        score_seeds=2,
        score_epoch=1,
    )
    res = run_sweep(data, sweep, out=f"{args.out}/sweep", device=device)
    print(res.results[["method", "fraction", "train_size", "test_accuracy", "steps"]].to_string())
    print("cuda check passed")


if __name__ == "__main__":
    main()

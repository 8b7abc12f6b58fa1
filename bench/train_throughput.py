"""Trainer throughput vs a minimal hand-written loop over the same tensors, in the same run.

    .venv/bin/python bench/train_throughput.py [--steps 150] [--repeats 3] [--dataset fashion-mnist]

Both train the default CNN with the same optimiser, batch size and augmentation on the same
in-memory tensors. Runs alternate (loop, trainer, loop, trainer, ...) so load from other processes
hits both alike; the median examples/second of each is reported, and their ratio (target >= 0.95).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from datadiet.data import load_dataset
from datadiet.models import build_model
from datadiet.training import TrainConfig, train
from datadiet.training.augment import augment_batch


def hand_loop(ds, cfg: TrainConfig, steps: int) -> float:
    model = build_model(cfg.model, ds.input_shape, ds.num_classes, width=cfg.width, seed=cfg.init_seed)
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay
    )
    g = torch.Generator().manual_seed(0)
    x_all, y_all = ds.x_train, ds.y_train
    use_aug = ds.augment.default if cfg.augment is None else cfg.augment
    model.train()
    done, seen = 0, 0
    t0 = time.perf_counter()
    while done < steps:
        for b in torch.randperm(x_all.shape[0], generator=g).split(cfg.batch_size):
            if done == steps:
                break
            x = augment_batch(x_all[b], ds.augment, g) if use_aug else x_all[b]
            loss = F.cross_entropy(model(x), y_all[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            seen += len(b)
    return seen / (time.perf_counter() - t0)


def trainer(ds, cfg: TrainConfig, steps: int) -> float:
    t0 = time.perf_counter()
    r = train(ds, cfg, stop_at=steps)
    elapsed = time.perf_counter() - t0
    # the trainer evaluates on the test set at the end; time only the training part it reports
    return r.examples_seen / r.seconds if r.seconds > 0 else r.examples_seen / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    ds = load_dataset(args.dataset)
    print(
        f"dataset {args.dataset}, model cnn, batch 128, {args.steps} steps x {args.repeats} alternating repeats, "
        f"torch threads {torch.get_num_threads()}"
    )
    print("| config | hand-written loop (examples/s, median) | datadiet trainer (examples/s, median) | ratio |")
    print("|---|---|---|---|")
    for label, cfg in (
        ("default (no augmentation)", TrainConfig(augment=False)),
        ("crop + flip augmentation", TrainConfig(augment=True)),
    ):
        hand_loop(ds, cfg, 10)  # warm-up
        loop_rates, trainer_rates = [], []
        for _ in range(args.repeats):
            loop_rates.append(hand_loop(ds, cfg, args.steps))
            trainer_rates.append(trainer(ds, cfg, args.steps))
        lo, tr = statistics.median(loop_rates), statistics.median(trainer_rates)
        print(f"| {label} | {lo:,.0f} | {tr:,.0f} | {tr / lo:.3f} |", flush=True)


if __name__ == "__main__":
    main()

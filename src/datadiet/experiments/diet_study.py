"""Does the diet pay for itself? Fashion-MNIST, the default CNN, 3 training seeds per cell:

    .venv/bin/python -m datadiet.experiments.diet_study --out runs --executor ray --workers 2 --threads 1

1. **The main sweep** (a superset of ``make run``): random pruning, the input-norm baseline, RS2 and
   InfoBatch (dynamic, no scoring) and EL2N scored by a cheap proxy (an MLP, 1 seed, epoch 1 of 4),
   each at 20% and 40% pruned (for dynamic methods: of the training compute saved), against full
   data; every cell's cost in FLOPs relative to full-data training, scoring included; the
   accuracy-vs-FLOPs Pareto front and the reuses after which scoring pays for itself.
2. **Cheaper scoring, measured for what it loses**: EL2N from the CNN itself with 4 seeds at epoch 1
   (the reference) against 1 seed, half an epoch, a width-0.25 CNN and an MLP proxy: Spearman and
   top-k overlap with the reference, the scoring FLOPs, and the accuracy of training on the 60% each
   keeps (3 seeds).

Everything is a job (cached, resumable, any executor); the tables, figures and ``report.md`` go to
``RESULTS/fashion-mnist-diet/`` (:func:`study_markdown` is also the README's block).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.experiments.executors import make_executor, study_parser
from datadiet.experiments.jobs import Context, DatasetSpec, closure, run_jobs
from datadiet.experiments.report import load_sweep, write_report
from datadiet.experiments.sweep import SweepConfig, SweepSpec, run_sweep
from datadiet.reports import describe_setup, format_mean_std, report_markdown
from datadiet.runs import atomic_write_bytes, atomic_write_json, atomic_write_parquet, read_json, runtime_info
from datadiet.selection import ranking_agreement
from datadiet.training import TrainConfig

NAME = "fashion-mnist-diet"
TRAIN = TrainConfig(model="cnn", epochs=4)
MAIN = SweepConfig(
    methods=("random", "input-norm", "rs2", "infobatch", "el2n"),
    fractions=(0.0, 0.2, 0.4),
    seeds=3,
    train=TRAIN,
    score_epoch=1,
    score_seeds=1,
    score_model="mlp",
)
VARIANT_FRACTION = 0.4  # the pruning result each scoring variant leads to
AGREEMENT_KEEP = (0.8, 0.6)  # top-k overlaps at the kept fractions of 20% and 40% pruned


@dataclass(frozen=True)
class Variant:
    """One way to score EL2N: a scoring model (None: the trained CNN), width, epoch and seeds."""

    name: str
    model: str | None
    width: float | None
    epoch: float
    seeds: int

    def sweep(self, main: SweepConfig = MAIN) -> SweepConfig:
        return replace(
            main,
            methods=("el2n",),
            fractions=(0.0, VARIANT_FRACTION),
            score_epoch=self.epoch,
            score_seeds=self.seeds,
            score_model=self.model,
            score_width=self.width,
        )


REFERENCE = Variant("reference: CNN, 4 seeds, epoch 1", None, None, 1, 4)
VARIANTS = (
    REFERENCE,
    Variant("CNN, 1 seed, epoch 1", None, None, 1, 1),
    Variant("CNN, 1 seed, epoch 0.5", None, None, 0.5, 1),
    Variant("CNN width 0.25, 1 seed, epoch 1", "cnn", 0.25, 1, 1),
    Variant("MLP proxy, 1 seed, epoch 1", "mlp", None, 1, 1),
    Variant("MLP proxy, 1 seed, epoch 0.5", "mlp", None, 0.5, 1),
)


def _scores(spec: SweepSpec, out: Path) -> np.ndarray:
    return pd.read_parquet(spec.score_job("el2n").table_path(out))["score"].to_numpy()


def variant_table(
    data: DatasetSpec, out: Path, *, main: SweepConfig = MAIN, variants: tuple[Variant, ...] = VARIANTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(agreement, cells)``: one row per variant (agreement with the reference, ``variants[0]``,
    scoring FLOPs, the pruned accuracy), and the variants' training cells."""
    ref = _scores(SweepSpec(data, variants[0].sweep(main)), out)
    rows, cells = [], []
    for v in variants:
        spec = SweepSpec(data, v.sweep(main))
        plan, _ = spec.plan()
        res = spec.collect(plan, out)
        res.insert(0, "variant", v.name)
        cells.append(res)
        agree = ranking_agreement(ref, _scores(spec, out), keep=AGREEMENT_KEEP)
        pruned = res[res["fraction"] == VARIANT_FRACTION]
        full = res[res["fraction"] == 0]
        full_flops = float(full["train_flops"].mean())
        rows.append(
            {
                "variant": v.name,
                "scoring_model": v.model or main.train.model,
                "scoring_width": v.width if v.width is not None else 1.0,
                "score_epoch": v.epoch,
                "score_seeds": v.seeds,
                "scoring_vs_full": float(pruned["scoring_flops"].mean()) / full_flops,
                "flops_vs_full": float(pruned["flops_vs_full"].mean()),
                "spearman": agree["spearman"],
                **{f"overlap_keep_{k:g}": agree["overlap"][k] for k in AGREEMENT_KEEP},
                "accuracy_mean": float(pruned["test_accuracy"].mean()),
                "accuracy_std": float(pruned["test_accuracy"].std(ddof=1)),
                "seeds": int(len(pruned)),
                "vs_full_points": 100 * (float(pruned["test_accuracy"].mean()) - float(full["test_accuracy"].mean())),
            }
        )
    return pd.DataFrame(rows), pd.concat(cells, ignore_index=True)


def run_study(
    *,
    out: Path,
    results: Path,
    executor,
    device: str = "cpu",
    command_args: list[str] | None = None,
    data: DatasetSpec | None = None,
    main: SweepConfig = MAIN,
    variants: tuple[Variant, ...] = VARIANTS,
    name: str = NAME,
) -> dict:
    """Run (or resume) every job of the study at once, then write ``RESULTS/NAME/``. ``data``, ``main``
    and ``variants`` default to the study's (Fashion-MNIST); tests pass tiny ones."""
    data = (data or DatasetSpec("fashion-mnist")).resolve()
    t0 = time.perf_counter()
    specs = [SweepSpec(data, main), *(SweepSpec(data, v.sweep(main)) for v in variants)]
    n = data.load().num_train
    jobs = closure([j for s in specs for j in s.plan(n)[1]])
    run_jobs(jobs, ctx=Context(out, device=device), executor=executor)
    seconds = time.perf_counter() - t0
    swept = run_sweep(data, main, out=out, executor=executor, device=device, command=_command(command_args))
    write_report(swept.path)
    folder = results / name
    folder.mkdir(parents=True, exist_ok=True)
    before = _previous_study(folder)  # read before the sweep's summary.json replaces it
    for f in swept.path.iterdir():
        if f.suffix in (".png", ".parquet", ".json"):
            shutil.copy2(f, folder / f.name)
    agreement, cells = variant_table(data, out, main=main, variants=variants)
    atomic_write_parquet(folder / "scoring_variants.parquet", agreement)
    atomic_write_parquet(folder / "scoring_variant_cells.parquet", cells)
    summary = read_json(folder / "summary.json")
    summary["study"] = {
        "command": _command(command_args),
        "seconds": before.get("seconds", 0.0) + seconds,  # a resumed or repeated study adds its time
        "invocations": before.get("invocations", 1 if before else 0) + 1,
        "jobs": len(jobs),
        "executor": executor.describe(),
        "runtime": {**runtime_info(), "cpu_count": os.cpu_count()},
    }
    atomic_write_json(folder / "summary.json", summary)
    atomic_write_bytes(folder / "report.md", study_markdown(folder).encode())
    return summary


def _previous_study(folder: Path) -> dict:
    """The ``study`` entry of an earlier invocation's summary in ``folder`` (empty if none)."""
    try:
        return dict(read_json(folder / "summary.json").get("study") or {})
    except Exception:
        return {}


def _command(args: list[str] | None) -> str:
    return " ".join(["python -m datadiet.experiments.diet_study", *(args or [])])


def variants_markdown(agreement: pd.DataFrame, cells: pd.DataFrame, setup: str) -> list[str]:
    """The "cheaper scoring" section: one row per scoring variant."""
    ref = agreement.iloc[0]
    k1, k2 = AGREEMENT_KEEP
    lines = [
        f"## Cheaper scoring, measured for what it loses: {setup}",
        "",
        f"EL2N from the trained CNN with {int(ref['score_seeds'])} seeds at epoch {ref['score_epoch']:g} is the "
        f"reference. *Spearman* and *top-k overlap* compare each variant's scores with it (overlap: the share "
        f"of the reference's kept set that the variant keeps too, at {k1:.0%} and {k2:.0%} kept; unrelated "
        f"scores give about {k1:.0%} and {k2:.0%}). *Scoring* is its FLOPs relative to one full-data "
        f"training; *accuracy* that of training on the {1 - VARIANT_FRACTION:.0%} it keeps, mean ± std over "
        "training seeds.",
        "",
        f"| scoring | scoring FLOPs vs full | Spearman | overlap at {k1:.0%} | overlap at {k2:.0%} | "
        f"accuracy, {VARIANT_FRACTION:.0%} pruned (%) | vs full (points) |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in agreement.iterrows():
        acc = cells[(cells["variant"] == r["variant"]) & (cells["fraction"] == VARIANT_FRACTION)]["test_accuracy"]
        lines.append(
            f"| {r['variant']} | {r['scoring_vs_full']:.3f}x | {r['spearman']:.3f} | {r[f'overlap_keep_{k1:g}']:.3f} | "
            f"{r[f'overlap_keep_{k2:g}']:.3f} | {format_mean_std(acc)} | {r['vs_full_points']:+.2f} |"
        )
    full = cells[cells["fraction"] == 0].drop_duplicates("run_dir")["test_accuracy"]
    lines += ["", f"Full data: {format_mean_std(full)} %.", ""]
    return lines


def study_markdown(folder: Path) -> str:
    """``report.md`` of the study: the main sweep's report, then the scoring variants."""
    summary, results = load_sweep(folder)
    text = report_markdown(summary, results)
    agreement = pd.read_parquet(folder / "scoring_variants.parquet")
    cells = pd.read_parquet(folder / "scoring_variant_cells.parquet")
    study = summary.get("study") or {}
    lines = ["", *variants_markdown(agreement, cells, describe_setup(summary, results))]
    if study:
        ex = study.get("executor") or {}
        workers = ex.get("workers") or 1
        shared = (
            " (the seconds columns were measured with the other workers busy on the same cores)" if workers > 1 else ""
        )
        lines += [
            "## How this was made",
            "",
            f"`{study.get('command')}` ran {study.get('jobs')} jobs in {study.get('seconds', 0) / 60:.1f} min "
            f"of wall-clock time over {study.get('invocations', 1)} invocation(s) "
            f"on {study.get('runtime', {}).get('cpu_count', '?')} cores ({study.get('runtime', {}).get('cpu_model', 'CPU')}): "
            f"{ex.get('executor', 'inprocess')}, "
            f"{workers} worker(s) x {ex.get('threads') or 'all'} thread(s){shared}.",
            "",
        ]
    return text.rstrip("\n") + "\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = study_parser(__doc__.splitlines()[0])
    args = ap.parse_args(argv)
    with make_executor(args.executor, workers=args.workers, threads=args.threads) as ex:
        summary = run_study(
            out=Path(args.out),
            results=Path(args.results),
            executor=ex,
            device=args.device,
            command_args=list(argv) if argv is not None else sys.argv[1:],
        )
    print(f"{NAME}: {summary['study']['seconds'] / 60:.1f} min, report {Path(args.results) / NAME / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

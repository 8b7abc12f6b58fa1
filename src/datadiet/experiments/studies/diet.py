"""Does the diet pay for itself? Fashion-MNIST, the default CNN, 3 training seeds per cell:

    datadiet study diet --out runs --results results --executor ray --workers 2 --threads 1

1. **The main sweep** (a superset of ``make run``): random pruning, the input-norm baseline, RS2 and
   InfoBatch (dynamic, no scoring) and EL2N scored by a cheap proxy (an MLP, 1 seed, epoch 1 of 4),
   each at 20% and 40% pruned (for dynamic methods: of the training compute saved), against full
   data; every cell's cost in FLOPs relative to full-data training, scoring included; the
   accuracy-vs-FLOPs Pareto front and the reuses after which scoring pays for itself.
2. **Cheaper scoring, measured for what it loses**: EL2N from the CNN itself with 4 seeds at epoch 1
   (the reference) against 1 seed, half an epoch, a width-0.25 CNN and an MLP proxy: Spearman and
   top-k overlap with the reference, the scoring FLOPs, and the accuracy of training on the 60% each
   keeps (3 seeds).

The study is an experiment like any other (:class:`DietStudy`: every job cached, resumable, on any
executor, run by :func:`datadiet.engine.run_experiment`); its tables, figures, ``report.md`` and
``summary.json`` go to ``RESULTS/fashion-mnist-diet/`` (:func:`study_markdown` is also the README's block).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.defaults import DEFAULT_DEVICE
from datadiet.engine import DatasetSpec, Job, closure, run_experiment
from datadiet.experiments.sweep import SweepConfig, SweepSpec, load_sweep, sweep_figures
from datadiet.reports.diet_study import diet_study_markdown
from datadiet.runs import atomic_write_bytes, read_json, runtime_info
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
        res = spec.collect(out)["results"]
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


@dataclass(frozen=True)
class DietStudy:
    """The study as an experiment: the main sweep and one sweep per scoring variant, planned at once.

    ``data``, ``main`` and ``variants`` default to the study's (Fashion-MNIST); tests pass tiny ones.
    Its folder is ``RESULTS/NAME`` (not a run directory): the main sweep's ``results.parquet`` and
    figures, ``scoring_variants.parquet``, ``scoring_variant_cells.parquet``, ``report.md`` and
    ``summary.json`` (the main sweep's summary, with a ``study`` entry whose time adds up over
    invocations).
    """

    results: Path = Path("results")
    data: DatasetSpec = field(default_factory=lambda: DatasetSpec("fashion-mnist"))
    main: SweepConfig = MAIN
    variants: tuple[Variant, ...] = VARIANTS
    name: str = NAME

    def sweeps(self) -> list[SweepSpec]:
        data = self.data.resolve()
        return [SweepSpec(data, self.main), *(SweepSpec(data, v.sweep(self.main)) for v in self.variants)]

    def plan(self, out: Path | None = None) -> list[Job]:
        return closure([j for s in self.sweeps() for j in s.plan()])

    def folder(self, out: Path) -> Path:
        return Path(self.results) / self.name

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        main = self.sweeps()[0]
        agreement, cells = variant_table(main.data, out, main=self.main, variants=self.variants)
        return {**main.collect(out), "scoring_variants": agreement, "scoring_variant_cells": cells}

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        return self.sweeps()[0].summary(tables, out)

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        """The main sweep's figures; the ``study`` entry (time over every invocation, read from the
        previous ``summary.json`` before the runner replaces it); ``report.md``."""
        before = _previous_study(folder)
        study = {
            "command": summary["command"],
            "seconds": before.get("seconds", 0.0) + summary["seconds"],  # a resumed or repeated study adds its time
            "invocations": before.get("invocations", 1 if before else 0) + 1,
            "jobs": summary["jobs"],
            "executor": {k: v for k, v in summary["executor"].items() if k != "device"},
            "runtime": {**runtime_info(), "cpu_count": os.cpu_count()},
        }
        figures = sweep_figures(tables["results"], summary, folder)
        full = {**summary, "figures": figures, "study": study}
        text = study_markdown(full, tables)
        return {
            "figures": figures,
            "study": study,
            "report": str(atomic_write_bytes(folder / "report.md", text.encode())),
        }


def run_study(*, out: Path, executor=None, device: str = DEFAULT_DEVICE, command: str | None = None, **study) -> dict:
    """Run (or resume) the study (``study``: the fields of :class:`DietStudy`); its summary."""
    return run_experiment(DietStudy(**study), out=out, executor=executor, device=device, command=command).summary


def _previous_study(folder: Path) -> dict:
    """The ``study`` entry of an earlier invocation's summary in ``folder`` (empty if none)."""
    try:
        return dict(read_json(folder / "summary.json").get("study") or {})
    except Exception:
        return {}


def load_study(folder: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """``(summary, tables)`` of a finished study folder."""
    summary, results = load_sweep(folder)
    tables = {"results": results}
    for name in ("scoring_variants", "scoring_variant_cells"):
        tables[name] = pd.read_parquet(folder / f"{name}.parquet")
    return summary, tables


def study_markdown(summary: dict, tables: dict[str, pd.DataFrame]) -> str:
    """``report.md`` of the study (:func:`datadiet.reports.diet_study.diet_study_markdown` with its settings)."""
    return diet_study_markdown(summary, tables, fraction=VARIANT_FRACTION, keep=AGREEMENT_KEEP)

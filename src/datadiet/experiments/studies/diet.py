"""Does the diet pay for itself, and how far can it go? Fashion-MNIST, the default CNN, 5 training seeds
per cell, every choice made on a validation split:

    datadiet study diet --out runs --results results --executor ray --workers 2 --threads 1

The training set loses a stratified 10% (6,000 examples, seed 0) that no run trains on; every run
reports its accuracy on it, and every choice below is made on it. Test accuracy is only reported.

1. **Which scoring** (phase 1): EL2N from the CNN itself with 4 initialisations at epoch 1 (the
   reference) against 1 initialisation, half an epoch, a width-0.25 CNN and an MLP proxy at epochs 1
   and 0.5: Spearman and top-k overlap with the reference, the scoring FLOPs, and the accuracy of
   training on the 60% each keeps (5 seeds). The variant with the best **validation** accuracy scores
   everything after it. Beside it, the baselines that need no scores: random pruning and the
   input-norm baseline at 20-90% pruned, RS2 and InfoBatch (dynamic) at 20% and 40% of the compute.
2. **The diet with the chosen scoring** (phase 2, planned once phase 1 is done): EL2N at 20-90%
   pruned; at 80% and 90% the window strategy (skip the hardest OFFSET, keep the next) with the offset
   chosen on validation among ``OFFSETS``; and the paper's headline comparison, EL2N and random at 50%
   pruned training for as many optimiser steps as the full data (equal steps).

Every claim in the report (matches full data, beats random, the Pareto front, the equal-steps
headline) is a verdict of :mod:`datadiet.stats` on the per-seed accuracies, paired by seed.

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
from datadiet.tables import best_on_validation, sweep_verdicts, validation_ranking, verdict_records
from datadiet.training import TrainConfig

NAME = "fashion-mnist-diet"
TRAIN = TrainConfig(model="cnn", epochs=4)
VAL_FRACTION = 0.1  # held out of training; every choice is made on it
MAIN = SweepConfig(
    methods=("random", "input-norm"),
    fractions=(0.0, 0.2, 0.4, 0.6, 0.8, 0.9),
    seeds=5,
    train=TRAIN,
    score_epoch=1,
    score_seeds=1,
)
DYNAMIC = replace(MAIN, methods=("rs2", "infobatch"), fractions=(0.0, 0.2, 0.4))
VARIANT_FRACTION = 0.4  # the pruning result each scoring variant leads to
AGREEMENT_KEEP = (0.8, 0.6)  # top-k overlaps at the kept fractions of 20% and 40% pruned
OFFSETS = (0.02, 0.05, 0.1)  # window strategy: fractions of the hardest examples skipped, chosen on validation
HIGH = (0.8, 0.9)  # the pruned fractions at which the window strategy is tried
STEPS_FRACTION = 0.5  # the paper's headline: EL2N against random at equal optimiser steps
WINDOW = "el2n-window"  # the method name of the window cells in the combined results


@dataclass(frozen=True)
class Variant:
    """One way to score EL2N: a scoring model (None: the trained CNN), width, epoch and seeds."""

    name: str
    model: str | None
    width: float | None
    epoch: float
    seeds: int

    def sweep(self, main: SweepConfig = MAIN, fractions: tuple[float, ...] = (0.0, VARIANT_FRACTION)) -> SweepConfig:
        """EL2N scored this way, at ``fractions`` pruned, on ``main``'s training and seeds."""
        return replace(
            main,
            methods=("el2n",),
            fractions=fractions,
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


def _variant_row(v: Variant, main: SweepConfig, res: pd.DataFrame, agree: dict) -> dict:
    pruned = res[res["fraction"] == VARIANT_FRACTION]
    full = res[res["fraction"] == 0]
    has_val = "val_accuracy" in res.columns
    return {
        "variant": v.name,
        "scoring_model": v.model or main.train.model,
        "scoring_width": v.width if v.width is not None else 1.0,
        "score_epoch": v.epoch,
        "score_seeds": v.seeds,
        "scoring_vs_full": float(pruned["scoring_flops"].mean()) / float(full["train_flops"].mean()),
        "flops_vs_full": float(pruned["flops_vs_full"].mean()),
        "spearman": agree["spearman"],
        **{f"overlap_keep_{k:g}": agree["overlap"][k] for k in AGREEMENT_KEEP},
        "val_accuracy_mean": float(pruned["val_accuracy"].mean()) if has_val else float("nan"),
        "accuracy_mean": float(pruned["test_accuracy"].mean()),
        "accuracy_std": float(pruned["test_accuracy"].std(ddof=1)),
        "seeds": int(len(pruned)),
        "vs_full_points": 100 * (float(pruned["test_accuracy"].mean()) - float(full["test_accuracy"].mean())),
    }


def variant_table(
    data: DatasetSpec, out: Path, *, main: SweepConfig = MAIN, variants: tuple[Variant, ...] = VARIANTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(agreement, cells)``: one row per variant (agreement with the reference, ``variants[0]``,
    scoring FLOPs, the pruned validation and test accuracy), and the variants' training cells."""
    ref = _scores(SweepSpec(data, variants[0].sweep(main)), out)
    rows, cells = [], []
    for v in variants:
        spec = SweepSpec(data, v.sweep(main))
        res = spec.collect(out)["results"]
        res.insert(0, "variant", v.name)
        cells.append(res)
        rows.append(_variant_row(v, main, res, ranking_agreement(ref, _scores(spec, out), keep=AGREEMENT_KEEP)))
    return pd.DataFrame(rows), pd.concat(cells, ignore_index=True)


def choose_variant(cells: pd.DataFrame, variants: tuple[Variant, ...]) -> tuple[Variant, dict]:
    """The scoring variant whose pruned cells have the best mean **validation** accuracy (test accuracy
    is only reported): ``(variant, best_on_validation's record)``."""
    pruned = cells[cells["fraction"] == VARIANT_FRACTION]
    best = best_on_validation(pruned, "variant")
    return next(v for v in variants if v.name == best["choice"]["variant"]), best


def choose_offsets(window: pd.DataFrame) -> dict[float, float]:
    """Per pruned fraction, the window offset with the best mean validation accuracy."""
    return {float(f): float(best_on_validation(g, "offset")["choice"]["offset"]) for f, g in window.groupby("fraction")}


@dataclass(frozen=True)
class DietStudy:
    """The study as an experiment: phase 1 (the scoring variants and the score-free baselines), then,
    once the variants are done, phase 2 with the variant chosen on validation (see the module docstring).

    ``data``, ``main``, ``dynamic``, ``variants``, ``offsets``, ``high`` and ``steps_fraction`` default to
    the study's (Fashion-MNIST with a 10% validation split); tests pass tiny ones (``dynamic=None``,
    ``offsets=()`` or ``steps_fraction=None`` leave that part out). Its folder is ``RESULTS/NAME`` (not
    a run directory): the combined ``results.parquet`` and figures, ``scoring_variants.parquet``,
    ``scoring_variant_cells.parquet``, ``window_cells.parquet``, ``equal_steps.parquet``, ``report.md``
    and ``summary.json`` (with the choices, the verdicts and a ``study`` entry whose time adds up over
    invocations).
    """

    results: Path = Path("results")
    data: DatasetSpec = field(default_factory=lambda: DatasetSpec("fashion-mnist", val_fraction=VAL_FRACTION))
    main: SweepConfig = MAIN
    dynamic: SweepConfig | None = DYNAMIC
    variants: tuple[Variant, ...] = VARIANTS
    offsets: tuple[float, ...] = OFFSETS
    high: tuple[float, ...] = HIGH
    steps_fraction: float | None = STEPS_FRACTION
    name: str = NAME

    def resolved(self) -> DatasetSpec:
        return self.data.resolve()

    def variant_sweeps(self) -> list[SweepSpec]:
        data = self.resolved()
        return [SweepSpec(data, v.sweep(self.main)) for v in self.variants]

    def baseline_sweeps(self) -> list[SweepSpec]:
        data = self.resolved()
        return [SweepSpec(data, self.main)] + ([SweepSpec(data, self.dynamic)] if self.dynamic else [])

    def chosen(self, out: Path) -> Variant | None:
        """The variant chosen on validation, or None while phase 1's variant cells are not all done."""
        jobs = closure([j for s in self.variant_sweeps() for j in s.plan()])
        if not all(j.is_done(out) for j in jobs):
            return None
        _, cells = variant_table(self.resolved(), out, main=self.main, variants=self.variants)
        return choose_variant(cells, self.variants)[0]

    def chosen_sweeps(self, v: Variant) -> dict[str, list[SweepSpec]]:
        """Phase 2 with variant ``v``: the EL2N sweep, one window sweep per offset, the equal-steps sweep."""
        data, pruned = self.resolved(), tuple(f for f in self.main.fractions if f > 0)
        el2n = v.sweep(self.main, (0.0, *pruned))
        window = [replace(el2n, fractions=(0.0, *self.high), strategy="window", offset=o) for o in self.offsets]
        out = {"el2n": [SweepSpec(data, el2n)], "window": [SweepSpec(data, w) for w in window], "steps": []}
        if self.steps_fraction is not None:
            steps = replace(el2n, methods=("random", "el2n"), fractions=(0.0, self.steps_fraction), budget="steps")
            out["steps"] = [SweepSpec(data, steps)]
        return out

    def plan(self, out: Path | None = None) -> list[Job]:
        sweeps = self.variant_sweeps() + self.baseline_sweeps()
        v = self.chosen(out) if out is not None else None
        if v is not None:
            sweeps += [s for group in self.chosen_sweeps(v).values() for s in group]
        return closure([j for s in sweeps for j in s.plan()])

    def folder(self, out: Path) -> Path:
        return Path(self.results) / self.name

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        agreement, cells = variant_table(self.resolved(), out, main=self.main, variants=self.variants)
        v, best = choose_variant(cells, self.variants)
        agreement["chosen"] = agreement["variant"] == v.name
        phase2 = self.chosen_sweeps(v)
        parts = [s.collect(out)["results"] for s in self.baseline_sweeps() + phase2["el2n"]]
        window = _window_cells(phase2["window"], out)
        results = pd.concat(parts + _chosen_window(window), ignore_index=True)
        tables = {"results": results, "scoring_variants": agreement, "scoring_variant_cells": cells}
        tables["window_cells"] = window
        if phase2["steps"]:
            tables["equal_steps"] = phase2["steps"][0].collect(out)["results"]
        return tables

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        """The EL2N sweep's summary, with the choices (made on validation) and the verdicts on the
        combined results and on the equal-steps headline."""
        agreement = tables["scoring_variants"]
        v = next(x for x in self.variants if x.name == agreement.loc[agreement["chosen"], "variant"].iloc[0])
        base = self.chosen_sweeps(v)["el2n"][0].summary(tables, out)
        margin = self.main.margin
        summary = {**base, "verdicts": verdict_records(sweep_verdicts(tables["results"], margin=margin))}
        summary["choices"] = _choices(tables, v)
        if "equal_steps" in tables:
            summary["equal_steps_verdicts"] = verdict_records(sweep_verdicts(tables["equal_steps"], margin=margin))
        return summary

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        """The combined results' figures; the ``study`` entry (time over every invocation, read from the
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


def _window_cells(sweeps: list[SweepSpec], out: Path) -> pd.DataFrame:
    """Every window cell (fraction > 0) with its ``offset``; empty without window sweeps."""
    parts = []
    for s in sweeps:
        res = s.collect(out)["results"]
        res = res[res["fraction"] > 0].assign(offset=s.config.offset)
        parts.append(res)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _chosen_window(window: pd.DataFrame) -> list[pd.DataFrame]:
    """The window cells at the offset chosen on validation per fraction, as method ``el2n-window``."""
    if not len(window):
        return []
    chosen = choose_offsets(window)
    keep = window[[chosen[float(f)] == o for f, o in zip(window["fraction"], window["offset"])]]
    return [keep.drop(columns=["offset"]).assign(method=WINDOW)]


def _choices(tables: dict[str, pd.DataFrame], v: Variant) -> dict:
    """What the study chose, on which split, with the validation ranking behind each choice."""
    cells = tables["scoring_variant_cells"]
    ranking = validation_ranking(cells[cells["fraction"] == VARIANT_FRACTION], "variant")
    out = {"split": "validation", "scoring": v.name, "scoring_ranking": ranking.to_dict("records")}
    window = tables.get("window_cells")
    if window is not None and len(window):
        out["window_offsets"] = {f"{f:g}": o for f, o in choose_offsets(window).items()}
        out["window_ranking"] = validation_ranking(window, ("fraction", "offset")).to_dict("records")
    return out


def run_study(*, out: Path, executor=None, device: str = DEFAULT_DEVICE, command: str | None = None, **study) -> dict:
    """Run (or resume) the study (``study``: the fields of :class:`DietStudy`); its summary."""
    return run_experiment(DietStudy(**study), out=out, executor=executor, device=device, command=command).summary


def _previous_study(folder: Path) -> dict:
    """The ``study`` entry of an earlier invocation's summary in ``folder`` (empty if none)."""
    try:
        return dict(read_json(folder / "summary.json").get("study") or {})
    except Exception:
        return {}


TABLES = ("scoring_variants", "scoring_variant_cells", "window_cells", "equal_steps")


def load_study(folder: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """``(summary, tables)`` of a finished study folder."""
    summary, results = load_sweep(folder)
    tables = {"results": results}
    for name in TABLES:
        if (folder / f"{name}.parquet").exists():
            tables[name] = pd.read_parquet(folder / f"{name}.parquet")
    return summary, tables


def study_markdown(summary: dict, tables: dict[str, pd.DataFrame]) -> str:
    """``report.md`` of the study (:func:`datadiet.reports.diet_study.diet_study_markdown` with its settings)."""
    return diet_study_markdown(summary, tables, fraction=VARIANT_FRACTION, keep=AGREEMENT_KEEP)

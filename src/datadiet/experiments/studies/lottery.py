"""The lottery-ticket study at CPU scale: Paul et al. 2022's three claims, in a regime where IMP without
rewinding fails, regenerated in one sitting:

    datadiet study lottery --out runs --results results --executor ray --workers 2 --threads 1

0. **Pilots** (kept in the report): what makes IMP fail at k = 0 here. Each pilot is IMP from k = 0 and
   from later steps, 2 replicates; the regime is the one whose k = 0 falls clearly below its dense
   network while a later step comes close (a learning-rate warm-up, for example, hides the effect).
1. **Gate**: IMP (rate 0.2, ``levels`` levels) from a fine grid of rewind steps k on the full data,
   ``replicates`` replicates, random pruning and random re-initialisation at every k; linear mode
   connectivity (``copies`` copies, per-example barriers kept) from every rewind point. Each step's
   deepest level is judged against the dense network trained from the *same* rewind point (level 0
   of that row). k* is chosen on **validation** (:func:`datadiet.tables.lottery.gate_choice`), and
   the failing step k_fail is the largest step below k* not established to match on validation.
2. **Data-diet pre-training**, planned once the gate is done: at k*, random subsets of every size in
   ``sizes`` (does a small random subset suffice?) and easy/hard subsets of ``size`` (by EL2N, 4 seeds
   at epoch 2); at k_fail, random, easy and hard subsets of ``size`` (do easy examples get there in
   fewer steps?). LMC from each of these rewind points too.
3. **Verdicts** (test accuracy, by the statistics core, Holm over the report's claims): k = 0 fails,
   rewinding helps, claims (1) and (2); claim (3), "the more examples are linearly mode connected, the
   better IMP does", is Spearman's rho over the rewind points (step, data, replicate) with its interval.

The study is an experiment like any other (:class:`LotteryStudy`: every job cached, resumable, on any
executor, run by :func:`datadiet.engine.run_experiment`; its second phase is planned once the gate's
jobs are done); tables go to ``RESULTS/lottery-mnist1d/`` with their figures, ``report.md``
(:func:`datadiet.reports.lottery_study.study_markdown`, also the README's block) and ``summary.json``.
``QUICK`` is the part ``datadiet reproduce --quick`` runs: k = 0 and one later step, and a random
subset there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.defaults import DEFAULT_DEVICE
from datadiet.engine import DatasetSpec, Job, closure, run_experiment
from datadiet.experiments.lottery import LmcConfig, LmcExperiment, LotteryConfig, LotteryExperiment
from datadiet.lottery import ALPHAS
from datadiet.plots.lottery import accuracy_vs_remaining, accuracy_vs_subset_size, interpolation_paths, scatter
from datadiet.reports.lottery_study import study_markdown
from datadiet.runs import atomic_write_bytes, read_json
from datadiet.stages.score import ScoreConfig, ScoreJob
from datadiet.stats import judge
from datadiet.tables.lottery import (
    MATCH_POINTS,
    failing_step,
    gate_choice,
    lmc_points,
    predictor_verdicts,
    study_claims,
)
from datadiet.tables.verdicts import verdict_records, verdict_table
from datadiet.training import TrainConfig

VAL_FRACTION = 0.1  # held out of training: the gate chooses k* on it
TEST_SAMPLES = 10_000  # MNIST-1D test examples: one run's binomial standard error ~0.17 points at 97%
KINDS = ("random", "easy", "hard")


@dataclass(frozen=True)
class Pilot:
    """One candidate regime: IMP from each of ``ks`` with ``train``, ``replicates`` replicates."""

    label: str
    train: TrainConfig
    ks: tuple[int, ...]
    replicates: int = 2


@dataclass(frozen=True)
class Study:
    name: str
    data: DatasetSpec
    train: TrainConfig
    levels: int
    replicates: int
    gate_ks: tuple[int, ...]
    branch_levels: tuple[int, ...] = ()
    copies: int = 3
    sizes: tuple[int, ...] = ()
    size: int | None = None  # the easy/hard/random size compared at k* and k_fail
    pilots: tuple[Pilot, ...] = ()
    baselines: bool = True  # random pruning and re-initialisation at every gate step (branch_levels)


MNIST1D_DATA = DatasetSpec("mnist1d", samples=5000, val_fraction=VAL_FRACTION, test_samples=TEST_SAMPLES)
NO_WARMUP = TrainConfig(model="resnet1d", epochs=10, batch_size=128, lr=0.4, schedule="step", warmup=0.0)
PILOTS = (
    Pilot("lr 0.4, no warm-up, step decay (chosen)", NO_WARMUP, (0, 32, 96)),
    Pilot("the same at width 2", replace(NO_WARMUP, width=2.0), (0, 96)),
    Pilot("lr 0.4, 20% warm-up, one-cycle (the earlier study)", TrainConfig(model="resnet1d", epochs=10, lr=0.4), (0,)),
    Pilot("lr 0.1, no warm-up, step decay", replace(NO_WARMUP, lr=0.1), (0, 32)),
)
MNIST1D = Study(
    name="lottery-mnist1d",
    data=MNIST1D_DATA,
    train=NO_WARMUP,
    levels=14,
    replicates=4,
    gate_ks=(0, 4, 8, 16, 32, 64),
    branch_levels=(7, 14),
    copies=3,
    sizes=(128, 512),
    size=512,
    pilots=PILOTS,
)
QUICK = Study(
    name="lottery-quick",
    data=MNIST1D_DATA,
    train=NO_WARMUP,
    levels=14,
    replicates=4,
    gate_ks=(0, 32),
    baselines=False,
    copies=2,
    sizes=(128,),
    size=None,
)


def _lottery(study: Study, k: int, pretrain: str = "full", branches: bool = False) -> LotteryConfig:
    return LotteryConfig(
        train=study.train,
        levels=study.levels,
        rewind_step=k,
        pretrain=pretrain,
        replicates=study.replicates,
        branches=branches,
        branch_levels=study.branch_levels if branches else (),
    )


def _lmc(study: Study, k: int, pretrain: str = "full") -> LmcConfig:
    return LmcConfig(
        train=study.train, from_step=k, pretrain=pretrain, copies=study.copies, replicates=study.replicates
    )


def gate_step(lottery: pd.DataFrame, levels: int) -> tuple[int | None, dict]:
    """k* and what it rests on (:func:`datadiet.tables.lottery.gate_choice`: chosen on validation
    accuracy by the verdicts of the statistics core), with the dense and deepest means per k (test)
    and the failing step (:func:`datadiet.tables.lottery.failing_step`)."""
    k, info = gate_choice(lottery, levels)
    full = lottery[(lottery["pretrain"] == "full") & (lottery["condition"] == "imp")]
    dense = full[full["level"] == 0].groupby("rewind_step")["test_accuracy"].mean()
    deep = full[full["level"] == levels].groupby("rewind_step")["test_accuracy"].mean()
    info["dense"] = {int(k): float(a) for k, a in dense.items()}
    info["deep"] = {int(k): float(a) for k, a in deep.items()}
    info["k_fail"] = failing_step(lottery, levels, k)
    return k, info


@dataclass(frozen=True)
class LotteryStudy:
    """One setting of the study as an experiment; ``k_star`` overrides the gate's choice of rewind step."""

    study: Study
    results: Path = Path("results")
    k_star: int | None = None

    @cached_property
    def data(self) -> DatasetSpec:
        return self.study.data.resolve()

    def score_job(self) -> ScoreJob:
        """EL2N (4 seeds at epoch 2) for the easy and hard pre-training subsets."""
        return ScoreJob(self.data, ScoreConfig(method="el2n", epoch=2, seeds=(0, 1, 2, 3), train=self.study.train))

    def pilot_experiments(self) -> list[tuple[Pilot, LotteryExperiment]]:
        s = self.study
        return [
            (p, LotteryExperiment(self.data, LotteryConfig(train=p.train, levels=s.levels, rewind_step=k,
                                                           replicates=p.replicates, branches=False)))
            for p in s.pilots
            for k in p.ks
        ]  # fmt: skip

    def gate_configs(self) -> tuple[dict, dict]:
        """The gate: IMP (with its random baselines) and LMC from every gate step, on the full data."""
        study = self.study
        lot = {k: _lottery(study, k, branches=study.baselines) for k in study.gate_ks}
        lmc = {(k, "full"): _lmc(study, k) for k in study.gate_ks}
        return lot, lmc

    def subset_conditions(self, k_star: int, k_fail: int | None) -> list[tuple[int, str]]:
        """(step, pre-training) of the data-diet phase: random subsets of every size at k*, and the
        three kinds of ``size`` at k* and at k_fail."""
        s = self.study
        out = [(k_star, f"random:{n}") for n in s.sizes]
        if s.size is not None:
            for k in (k_star, k_fail):
                if k:
                    out += [(k, f"{kind}:{s.size}") for kind in KINDS]
        return list(dict.fromkeys(out))

    def needs_scores(self) -> bool:
        return self.study.size is not None

    def experiments(self, out: Path) -> tuple[list, list, bool]:
        """The lottery and LMC experiments planned so far, and whether the gate's jobs are all done."""
        data, lot, lmc = self.data, *self.gate_configs()
        lotteries = [LotteryExperiment(data, c) for c in lot.values()]
        lmcs = [LmcExperiment(data, c) for c in lmc.values()]
        first = [j for e in lotteries + lmcs for j in e.plan()] + ([self.score_job()] if self.needs_scores() else [])
        gated = all(j.is_done(out) for j in closure(first))
        if gated:
            k_star, info = self.chosen(out)
            if k_star is not None:
                table = self.score_job().load(out).table if self.needs_scores() else None
                for k, p in self.subset_conditions(k_star, info["k_fail"]):
                    lotteries.append(LotteryExperiment(data, _lottery(self.study, k, p), table))
                    lmcs.append(LmcExperiment(data, _lmc(self.study, k, p), table))
        return lotteries, lmcs, gated

    def gate(self, out: Path) -> tuple[int | None, dict]:
        lot, _ = self.gate_configs()
        rows = pd.concat([LotteryExperiment(self.data, c).collect(out)["results"] for c in lot.values()])
        return gate_step(rows.reset_index(drop=True), self.study.levels)

    def chosen(self, out: Path) -> tuple[int | None, dict]:
        k, info = self.gate(out)
        if self.k_star is not None:
            k = self.k_star
            info = {**info, "k_fail": next((g for g in reversed(self.study.gate_ks) if 0 < g < k), None)}
        return k, info

    def plan(self, out: Path) -> list[Job]:
        lotteries, lmcs, _ = self.experiments(out)
        jobs = [j for _, e in self.pilot_experiments() for j in e.plan()]
        jobs += [j for e in lotteries + lmcs for j in e.plan()]
        return jobs + ([self.score_job()] if self.needs_scores() else [])

    def folder(self, out: Path) -> Path:
        return Path(self.results) / self.study.name

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        lotteries, lmcs, _ = self.experiments(out)
        lot = pd.concat([e.collect(out)["results"] for e in lotteries], ignore_index=True)
        lot = lot.drop_duplicates(subset=["condition", "replicate", "level", "rewind_step", "pretrain"])
        lmc = pd.concat([e.collect(out)["results"] for e in lmcs], ignore_index=True)
        examples = []
        for e in lmcs:
            for r, job in enumerate(e.jobs):
                t = job.per_example(out)
                t.insert(0, "replicate", r)
                t.insert(0, "pretrain", e.config.pretrain)
                t.insert(0, "from_step", e.config.from_step)
                examples.append(t)
        pilots = []
        for p, e in self.pilot_experiments():
            rows = e.collect(out)["results"]
            rows.insert(0, "pilot", p.label)
            pilots.append(rows)
        tables = {"lottery": lot, "lmc": lmc, "lmc_examples": pd.concat(examples, ignore_index=True)}
        if pilots:
            tables["pilots"] = pd.concat(pilots, ignore_index=True)
        for df in tables.values():
            if "run_dir" in df.columns:
                df["run_dir"] = df["run_dir"].map(lambda p: Path(p).name)  # portable: the job key
        return tables

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        study = self.study
        k_star, gate = self.chosen(out)
        claims = study_claims(
            tables["lottery"], study.levels, k_star=k_star, k_fail=gate["k_fail"], sizes=study.sizes,
            size=study.size or 0,
        )  # fmt: skip
        verdicts = verdict_records(verdict_table(judge(claims)))
        points = lmc_points(tables["lottery"], tables["lmc"], study.levels)
        return {
            "dataset": self.data.key(),
            "train": study.train,
            "levels": study.levels,
            "replicates": study.replicates,
            "gate_ks": study.gate_ks,
            "copies": study.copies,
            "k_star": k_star,
            "k_fail": gate["k_fail"],
            "gate": gate,
            "match_points": MATCH_POINTS,
            "verdicts": verdicts,
            "predictors": [c.as_dict() for c in predictor_verdicts(points)] if len(points) else [],
            "pilots": [
                {"label": p.label, "train": p.train, "ks": p.ks, "replicates": p.replicates} for p in study.pilots
            ],
        }

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        figs = figures(summary, tables, folder)
        text = study_markdown(summary, tables)
        return {"figures": figs, "report": str(atomic_write_bytes(folder / "report.md", text.encode()))}


def run_study(
    study: Study,
    *,
    out: Path,
    results: Path,
    executor=None,
    device: str = DEFAULT_DEVICE,
    k_star: int | None = None,
    command: str | None = None,
) -> dict:
    """Run (or resume) one setting of the study; its summary."""
    exp = LotteryStudy(study, Path(results), k_star)
    return run_experiment(exp, out=out, executor=executor, device=device, command=command).summary


TABLES = ("lottery", "lmc", "lmc_examples", "pilots")


def load_study(folder: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """``(summary, tables)`` of a finished study folder."""
    tables = {n: pd.read_parquet(folder / f"{n}.parquet") for n in TABLES if (folder / f"{n}.parquet").exists()}
    return read_json(folder / "summary.json"), tables


def _setup(s: dict) -> str:
    t = s["train"]
    return f"{s['dataset']['name']}, {t['model']}, lr {t['lr']:g} ({t['schedule']}), {s['replicates']} replicates"


def figures(s: dict, tables: dict[str, pd.DataFrame], folder: Path) -> dict[str, str]:
    """The study's figures, drawn from its summary and tables into ``folder``."""
    lot, lmc, levels, k_star = tables["lottery"], tables["lmc"], s["levels"], s["k_star"]
    setup = _setup(s)
    full = lot[lot["pretrain"] == "full"].copy()
    names = {"imp": "IMP", "random-prune": "random pruning", "random-reinit": "random re-init"}
    full["line"] = [f"{names[c]}, rewind to step {k}" for c, k in zip(full["condition"], full["rewind_step"])]
    shown = full[(full["condition"] == "imp") | (full["rewind_step"].isin([0, k_star]))]
    out = {
        "gate": accuracy_vs_remaining(
            shown, folder / "gate_accuracy_vs_remaining.png", title=f"IMP by rewind step: {setup}", group="line"
        )
    }
    for k in sorted({0, k_star} - {None}):
        paths = [
            np.asarray(p, dtype=float) for p in lmc.loc[(lmc["pretrain"] == "full") & (lmc["from_step"] == k), "path"]
        ]
        if paths:
            out[f"path_k{k}"] = interpolation_paths(
                ALPHAS, paths, folder / f"error_along_path_k{k}.png", title=f"copies trained from step {k}: {setup}"
            )
    sub = lot[(lot["condition"] == "imp") & (lot["level"] == levels) & (lot["pretrain"] != "full")]
    if k_star is not None and (sub["rewind_step"] == k_star).any():
        sub = sub[sub["rewind_step"] == k_star].copy()
        sub["kind"] = sub["pretrain"].str.split(":").str[0]
        dense_full = full[(full["rewind_step"] == k_star) & (full["condition"] == "imp") & (full["level"] == levels)]
        out["subsets"] = accuracy_vs_subset_size(
            sub,
            folder / "subset_size.png",
            full=dense_full["test_accuracy"],
            title=f"deepest level ({100 * (1 - 0.8**levels):.1f}% pruned), rewind step {k_star}: {setup}",
        )
    points = lmc_points(lot, lmc, levels)
    if len(points):
        points["kind"] = points["pretrain"] + " (k=" + points["rewind_step"].astype(str) + ")"
        out["lmc"] = scatter(
            points.assign(lmc_pct=100 * points["lmc_fraction"]),
            "lmc_pct",
            "imp_gap",
            folder / "lmc_fraction_vs_imp.png",
            hue="kind",
            xlabel="training examples linearly mode connected from the rewind point (%)",
            ylabel="deepest level minus its dense network (points)",
            title="more connected examples, better IMP? (one point per rewind point and replicate)",
        )
    return {k: str(v) for k, v in out.items()}

"""The lottery-ticket study at CPU scale (Paul et al. 2022's questions on MNIST-1D, confirmed on
Fashion-MNIST), regenerated in one sitting:

    datadiet study lottery --out runs --results results --executor ray --workers 2 --threads 1

1. **Gate**: IMP with rewinding to step k for k in 0, 8, 32, 96 (2 replicates, 14 levels: 95.6% of
   the weights pruned). k* is the smallest k whose deepest level matches the dense network (mean test
   accuracy at most 0.5 points below the dense mean) where k = 0 does not.
2. **Data-diet pre-training** at k*: the k* pre-training steps on a class-balanced subset of 128 or 512
   examples, random, easiest or hardest by EL2N (4 seeds at epoch 2); and at 512 examples, the same at
   the other gate steps (do easy examples get there in fewer steps, hard ones in more?).
3. **Linear mode connectivity** from every rewind point (2 copies): does a low barrier predict IMP's
   success better than the rewind point's own accuracy?
4. **Fashion-MNIST**: the gate at k = 0 and k = 100 with the CNN, one replicate, 6 levels.

Each setting is an experiment like any other (:class:`LotteryStudy`: every job cached, resumable, on
any executor, run by :func:`datadiet.engine.run_experiment`; its second phase is planned once the
gate's jobs are done); tables go to ``RESULTS/lottery-*/`` with their figures, ``report.md``
(:func:`datadiet.reports.lottery_study.study_markdown`, also the README's block) and ``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from datadiet.tables.lottery import MATCH_POINTS, deepest_by_rewind_point, gate_choice
from datadiet.training import TrainConfig

VAL_FRACTION = 0.1  # held out of training: the gate chooses k* on it


@dataclass(frozen=True)
class Study:
    name: str
    data: DatasetSpec
    train: TrainConfig
    levels: int
    replicates: int
    gate_ks: tuple[int, ...]
    branch_ks: tuple[int, ...]
    sizes: tuple[int, ...] = ()
    steps_size: int | None = None


MNIST1D = Study(
    name="lottery-mnist1d",
    data=DatasetSpec("mnist1d", samples=5000, val_fraction=VAL_FRACTION),
    train=TrainConfig(model="resnet1d", epochs=10, batch_size=128, lr=0.4),
    levels=14,
    replicates=2,
    gate_ks=(0, 8, 32, 96),
    branch_ks=(0,),
    sizes=(128, 512),
    steps_size=512,
)
FASHION = Study(
    name="lottery-fashion-mnist",
    data=DatasetSpec("fashion-mnist", val_fraction=VAL_FRACTION),
    train=TrainConfig(model="cnn", epochs=2, batch_size=128, lr=0.2),
    levels=6,
    replicates=1,
    gate_ks=(0, 100),
    branch_ks=(),
)


def _lottery(study: Study, k: int, pretrain: str = "full", branches: bool = False) -> LotteryConfig:
    return LotteryConfig(
        train=study.train,
        levels=study.levels,
        rewind_step=k,
        pretrain=pretrain,
        replicates=study.replicates,
        branches=branches,
    )


def _lmc(study: Study, k: int, pretrain: str = "full") -> LmcConfig:
    return LmcConfig(train=study.train, from_step=k, pretrain=pretrain, replicates=study.replicates)


def gate_step(lottery: pd.DataFrame, levels: int) -> tuple[int | None, dict]:
    """k* and what it rests on (:func:`datadiet.tables.lottery.gate_choice`: chosen on validation
    accuracy by the verdicts of the statistics core), with the dense and deepest means per k (test)."""
    k, info = gate_choice(lottery, levels)
    full = lottery[(lottery["pretrain"] == "full") & (lottery["condition"] == "imp")]
    dense = full[full["level"] == 0].groupby("rewind_step")["test_accuracy"].mean()
    deep = full[full["level"] == levels].groupby("rewind_step")["test_accuracy"].mean()
    info["dense"] = {int(k): float(a) for k, a in dense.items()}
    info["deep"] = {int(k): float(a) for k, a in deep.items()}
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

    def gate_configs(self) -> tuple[dict, dict]:
        """The gate: IMP and LMC from every gate step, pre-trained on the full data."""
        study = self.study
        lot = {k: _lottery(study, k, branches=k in study.branch_ks) for k in study.gate_ks}
        lmc = {(k, "full"): _lmc(study, k) for k in study.gate_ks}
        return lot, lmc

    def subset_configs(self, k_star: int) -> tuple[dict, dict]:
        """The data-diet pre-training at k* (every kind and size), and at the other gate steps."""
        study, lot, lmc = self.study, {}, {}
        if k_star not in study.branch_ks:
            lot[(k_star, "branches")] = _lottery(study, k_star, branches=True)
        for kind in ("random", "easy", "hard"):
            for n in study.sizes:
                lot[(k_star, f"{kind}:{n}")] = _lottery(study, k_star, f"{kind}:{n}")
                lmc[(k_star, f"{kind}:{n}")] = _lmc(study, k_star, f"{kind}:{n}")
            for k in study.gate_ks:
                if k not in (0, k_star):
                    p = f"{kind}:{study.steps_size}"
                    lot[(k, p)] = _lottery(study, k, p)
                    lmc[(k, p)] = _lmc(study, k, p)
        return lot, lmc

    def experiments(self, out: Path) -> tuple[list, list, bool]:
        """The lottery and LMC experiments planned so far, and whether the gate's jobs are all done."""
        data, lot, lmc = self.data, *self.gate_configs()
        lotteries = [LotteryExperiment(data, c) for c in lot.values()]
        lmcs = [LmcExperiment(data, c) for c in lmc.values()]
        first = [j for e in lotteries + lmcs for j in e.plan()] + ([self.score_job()] if self.study.sizes else [])
        gated = all(j.is_done(out) for j in closure(first))
        k_star = self.chosen_k(out) if gated else None
        if gated and self.study.sizes and k_star is not None:
            table = self.score_job().load(out).table
            more_lot, more_lmc = self.subset_configs(k_star)
            lotteries += [LotteryExperiment(data, c, table) for c in more_lot.values()]
            lmcs += [LmcExperiment(data, c, table) for c in more_lmc.values()]
        return lotteries, lmcs, gated

    def gate(self, out: Path) -> tuple[int | None, dict]:
        lot, _ = self.gate_configs()
        rows = pd.concat([LotteryExperiment(self.data, c).collect(out)["results"] for c in lot.values()])
        return gate_step(rows.reset_index(drop=True), self.study.levels)

    def chosen_k(self, out: Path) -> int | None:
        return self.gate(out)[0] if self.k_star is None else self.k_star

    def plan(self, out: Path) -> list[Job]:
        lotteries, lmcs, gated = self.experiments(out)
        jobs = [j for e in lotteries + lmcs for j in e.plan()]
        return jobs + ([self.score_job()] if self.study.sizes else [])

    def folder(self, out: Path) -> Path:
        return Path(self.results) / self.study.name

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        lotteries, lmcs, _ = self.experiments(out)
        lot = pd.concat([e.collect(out)["results"] for e in lotteries], ignore_index=True)
        lot = lot.drop_duplicates(subset=["condition", "replicate", "level", "rewind_step", "pretrain"])
        lmc = pd.concat([e.collect(out)["results"] for e in lmcs], ignore_index=True)
        for df in (lot, lmc):
            df["run_dir"] = df["run_dir"].map(lambda p: Path(p).name)  # portable: the job key, not this machine's path
        return {"lottery": lot, "lmc": lmc}

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        study = self.study
        found, gate = self.gate(out)
        return {
            "dataset": self.data.key(),
            "train": study.train,
            "levels": study.levels,
            "replicates": study.replicates,
            "gate_ks": study.gate_ks,
            "k_star": found if self.k_star is None else self.k_star,
            "gate": gate,
            "match_points": MATCH_POINTS,
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


def load_study(folder: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """``(summary, tables)`` of a finished study folder."""
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in ("lottery", "lmc")}
    return read_json(folder / "summary.json"), tables


def figures(s: dict, tables: dict[str, pd.DataFrame], folder: Path) -> dict[str, str]:
    """The study's figures, drawn from its summary and tables into ``folder``."""
    lot, lmc = tables["lottery"], tables["lmc"]
    levels, k_star = s["levels"], s["k_star"]
    t = s["train"]
    setup = (
        f"{s['dataset']['name']}, {t['model']}, lr {t['lr']:g}, {t['epochs']} epochs, {s['replicates']} replicate(s)"
    )
    full = lot[lot["pretrain"] == "full"].copy()
    names = {"imp": "IMP", "random-prune": "random pruning", "random-reinit": "random re-init"}
    full["line"] = [f"{names[c]}, rewind to step {k}" for c, k in zip(full["condition"], full["rewind_step"])]
    out = {
        "gate": accuracy_vs_remaining(
            full, folder / "gate_accuracy_vs_remaining.png", title=f"IMP by rewind step: {setup}", group="line"
        )
    }
    for k in sorted(set(lmc.loc[lmc["pretrain"] == "full", "from_step"])):
        paths = [
            np.asarray(p, dtype=float) for p in lmc.loc[(lmc["pretrain"] == "full") & (lmc["from_step"] == k), "path"]
        ]
        out[f"path_k{k}"] = interpolation_paths(
            ALPHAS, paths, folder / f"error_along_path_k{k}.png", title=f"copies trained from step {k}: {setup}"
        )
    if k_star is not None and (lot["pretrain"] != "full").any():
        sub = lot[(lot["rewind_step"] == k_star) & (lot["condition"] == "imp") & (lot["level"] == levels)].copy()
        sub = sub[sub["pretrain"] != "full"]
        sub["kind"] = sub["pretrain"].str.split(":").str[0]
        dense_full = lot[(lot["rewind_step"] == k_star) & (lot["pretrain"] == "full") & (lot["condition"] == "imp")]
        out["subsets"] = accuracy_vs_subset_size(
            sub,
            folder / "subset_size.png",
            full=dense_full.loc[dense_full["level"] == levels, "test_accuracy"],
            title=f"deepest level ({100 * (1 - 0.8**levels):.1f}% pruned), rewind step {k_star}: {setup}",
        )
    deep = deepest_by_rewind_point(lot, lmc, levels)
    deep["kind"] = deep["pretrain"].str.split(":").str[0] + " (k=" + deep["rewind_step"].astype(str) + ")"
    deep["accuracy_pct"] = 100 * deep["test_accuracy"]
    out["barrier"] = scatter(
        deep.assign(barrier_pct=100 * deep["error_barrier"]),
        "barrier_pct",
        "accuracy_pct",
        folder / "barrier_vs_accuracy.png",
        hue="kind",
        xlabel="test-error barrier from the rewind point (points)",
        ylabel="test accuracy at the deepest level (%)",
        title="barrier vs sparse accuracy",
    )
    out["rewind_accuracy"] = scatter(
        deep.assign(rewind_pct=100 * deep["rewind_accuracy"]),
        "rewind_pct",
        "accuracy_pct",
        folder / "rewind_accuracy_vs_accuracy.png",
        hue="kind",
        xlabel="test accuracy of the rewind point itself (%)",
        ylabel="test accuracy at the deepest level (%)",
        title="rewind-point accuracy vs sparse accuracy",
    )
    return {k: str(v) for k, v in out.items()}

"""``datadiet reproduce [--quick]``: each finding of the data-diet papers, stated as the paper states it,
measured here, and judged by :mod:`datadiet.stats`.

The findings (Paul, Ganguli, Dziugaite 2021; Kirsch 2023):

1. EL2N prunes a large fraction with no loss at **equal steps** (the paper's comparison);
2. ... and at **equal epochs** (pruning saves compute);
3. EL2N beats random pruning;
4. GraNd a few epochs in beats random pruning;
5. GraNd at initialisation ranks examples like the input norm (Spearman's rho over initialisations);
6. GraNd at initialisation, and the input norm, are no better than random pruning;
7. the hardest examples are often mislabeled: on data with flipped labels, the top-scored examples
   catch them far above chance (held against cleanlab's ``find_label_issues`` on the same data);
8. how many seeds and how early: the seeds advisor on EL2N from several seeds and epochs.

Every claim of 1-7 is one :class:`datadiet.stats.Claim`, all judged together (Holm). "With no loss" is
read as the paper means it, a non-inferiority claim (at most 0.3 points below full data; being better
is no loss), not as equivalence. The data hold out
a validation split; nothing here is chosen, so test accuracy is what the claims are about. ``--quick``
trains an MLP (minutes on 2 cores); the full setting the CNN of the diet study.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.defaults import DEFAULT_DEVICE
from datadiet.engine import DatasetSpec, Job, closure, run_experiment
from datadiet.experiments.seeds import seeds_advice
from datadiet.experiments.studies.lottery import QUICK as LOTTERY_QUICK
from datadiet.experiments.studies.lottery import LotteryStudy, Study
from datadiet.experiments.sweep import SweepConfig, SweepSpec, sweep_figures
from datadiet.reports.reproduce import FINDINGS, reproduce_markdown
from datadiet.runs import atomic_write_bytes
from datadiet.scores.basic import probabilities
from datadiet.selection import noisy_recall
from datadiet.stages.score import ScoreConfig, ScoreJob
from datadiet.stats import Claim, judge, paired_differences
from datadiet.tables import seed_accuracies, verdict_records, verdict_table
from datadiet.tables.lottery import lmc_points, predictor_verdicts, study_claims
from datadiet.training import TrainConfig


@dataclass(frozen=True)
class Setting:
    """One size of the reproduction: data (with a validation split), schedule, seeds, fractions."""

    name: str
    data: DatasetSpec
    train: TrainConfig
    seeds: int = 5
    fractions: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7)
    score_epoch: float = 1
    score_seeds: int = 4
    steps_fraction: float = 0.5
    noise: float = 0.1
    early_epochs: tuple[float, ...] = (0.5, 1, 2)
    top: float = 0.1  # the top-scored fraction that should catch the flipped labels
    lottery: Study | None = LOTTERY_QUICK  # the lottery study's quick part (findings 9-11)

    def sweep(self) -> SweepConfig:
        return SweepConfig(
            methods=("random", "el2n", "grand", "grand@0", "input-norm"),
            fractions=self.fractions,
            seeds=self.seeds,
            train=self.train,
            score_epoch=self.score_epoch,
            score_seeds=self.score_seeds,
        )

    def steps(self) -> SweepConfig:
        return replace(self.sweep(), methods=("random", "el2n"), fractions=(0.0, self.steps_fraction), budget="steps")


FASHION = DatasetSpec("fashion-mnist", val_fraction=0.1)
QUICK = Setting("reproduce-quick", FASHION, TrainConfig(model="mlp", epochs=4))
FULL = Setting("reproduce", FASHION, TrainConfig(model="cnn", epochs=4))
SETTINGS = {"quick": QUICK, "full": FULL}
FINDINGS_KEYS = tuple(FINDINGS)


@dataclass(frozen=True)
class Reproduction:
    """The reproduction as an experiment (plan, collect, summary, report); ``RESULTS/<setting name>``."""

    setting: Setting = QUICK
    results: Path = Path("results")
    command: str = field(default="datadiet reproduce --quick", compare=False)

    def data(self) -> DatasetSpec:
        return self.setting.data.resolve()

    def noisy_data(self) -> DatasetSpec:
        return replace(self.setting.data, label_noise=self.setting.noise, fingerprint=None).resolve()

    def sweeps(self) -> tuple[SweepSpec, SweepSpec]:
        return SweepSpec(self.data(), self.setting.sweep()), SweepSpec(self.data(), self.setting.steps())

    def score_jobs(self) -> dict[str, list[ScoreJob]]:
        """EL2N at each early epoch (the seeds advisor) and EL2N on the label-noised data."""
        s = self.setting
        seeds = tuple(range(s.score_seeds))
        early = [
            ScoreJob(self.data(), ScoreConfig("el2n", epoch=e, seeds=seeds, train=s.train)) for e in s.early_epochs
        ]
        noisy = ScoreJob(self.noisy_data(), ScoreConfig("el2n", epoch=s.score_epoch, seeds=seeds, train=s.train))
        return {"early": early, "noisy": [noisy]}

    def lottery(self) -> LotteryStudy | None:
        """The lottery study's quick part: IMP from k = 0 and from the last gate step, which is fixed as
        k* (nothing is chosen), a random subset before k*, and LMC from each rewind point."""
        study = self.setting.lottery
        return None if study is None else LotteryStudy(study, self.results, k_star=max(study.gate_ks))

    def plan(self, out: Path | None = None) -> list[Job]:
        jobs = [j for sw in self.sweeps() for j in sw.plan()]
        lottery = self.lottery()
        if lottery is not None:
            jobs += lottery.plan(out)
        return closure(jobs + [j for js in self.score_jobs().values() for j in js])

    def folder(self, out: Path) -> Path:
        return Path(self.results) / self.setting.name

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        epochs, steps = (sw.collect(out) for sw in self.sweeps())
        tables = {"results": epochs["results"], "equal_steps": steps["results"], "kirsch": epochs["kirsch"]}
        tables["label_noise"] = self.label_noise_table(out)
        lottery = self.lottery()
        if lottery is not None:
            lot = lottery.collect(out)
            tables.update({"lottery": lot["lottery"], "lmc": lot["lmc"]})
        return tables

    def label_noise_table(self, out: Path) -> pd.DataFrame:
        """Per scoring seed and for the mean: the share of flipped labels among the top-scored ``top``
        of the training set, and cleanlab's ``find_label_issues`` on the same models' probabilities."""
        job = self.score_jobs()["noisy"][0]
        ds = job.data.load()
        res = job.load(out)
        rows = [
            {"scores": f"seed {s}", "recall": noisy_recall(res.per_seed[:, i], ds.noisy, top=self.setting.top)}
            for i, s in enumerate(job.score.seeds)
        ]
        rows.append(
            {"scores": "mean over seeds", "recall": noisy_recall(res.table["score"], ds.noisy, top=self.setting.top)}
        )
        probs = np.mean([probabilities(job.checkpoint(s).model(out, ds), ds.x_train) for s in job.score.seeds], axis=0)
        # imported here: cleanlab (which imports datasets where installed) would cost every CLI start ~1 s
        from cleanlab.filter import find_label_issues

        issues = find_label_issues(ds.y_train.numpy(), probs)
        found = int(issues.sum())
        rows.append(
            {
                "scores": "cleanlab find_label_issues",
                "recall": float((issues & ds.noisy).sum() / max(1, ds.noisy.sum())),
                "precision": float((issues & ds.noisy).sum() / max(1, found)),
                "flagged": found,
            }
        )
        out_table = pd.DataFrame(rows)
        out_table["flipped"] = int(ds.noisy.sum())
        out_table["chance"] = self.setting.top
        return out_table

    def claims(self, tables: dict[str, pd.DataFrame], out: Path) -> list[Claim]:
        claims = finding_claims(tables, self.setting)
        lottery = self.lottery()
        if lottery is not None:
            claims += lottery_claims(tables, lottery, out)
        return claims

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        epochs = self.sweeps()[0].summary(tables, out)
        verdicts = verdict_records(verdict_table(judge(self.claims(tables, out))))
        lottery = self.lottery()
        if lottery is not None:
            points = lmc_points(tables["lottery"], tables["lmc"], lottery.study.levels)
            verdicts += [{**c.as_dict(), "finding": 11} for c in predictor_verdicts(points)[:1]]
        advice = seeds_advice([j.path(out) for j in self.score_jobs()["early"]])
        return {
            **{k: epochs[k] for k in ("dataset", "class_names", "num_train", "config", "scored_at")},
            "setting": self.setting.name,
            "findings": verdicts,
            "grand_init_vs_input_norm": epochs.get("grand_init_vs_input_norm"),
            "seeds_advice": {"sentence": advice["sentence"], "rows": advice["rows"]},
            "label_noise_setup": {"rate": self.setting.noise, "top": self.setting.top},
            **({"lottery_setup": self.lottery_summary(out)} if lottery is not None else {}),
        }

    def lottery_summary(self, out: Path) -> dict:
        study = self.setting.lottery
        k_star, gate = self.lottery().chosen(out)
        return {
            "train": study.train,
            "levels": study.levels,
            "replicates": study.replicates,
            "gate_ks": study.gate_ks,
            "k_star": k_star,
            "gate_established": gate.get("established"),
            "sizes": study.sizes,
        }

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        figures = sweep_figures(tables["results"], summary, folder)
        text = reproduce_markdown({**summary, "figures": figures, "command": self.command}, tables)
        return {"figures": figures, "report": str(atomic_write_bytes(folder / "report.md", text.encode()))}


def finding_claims(tables: dict[str, pd.DataFrame], setting: Setting) -> list[Claim]:
    """The claims of findings 1-7 (see the module docstring), in points, paired by seed."""
    acc, steps = seed_accuracies(tables["results"]), seed_accuracies(tables["equal_steps"])
    full, f = acc[("full", 0.0)], setting.steps_fraction
    claims = []
    if ("el2n", f) in steps:
        claims.append(
            _claim(
                1,
                f"EL2N at {f:.0%} pruned loses under 0.3 points against full data at equal steps",
                "not-worse",
                steps[("el2n", f)],
                steps[("full", 0.0)],
            )
        )
    for g in (x for x in setting.fractions if x > 0):
        rnd = acc[("random", g)]
        claims.append(
            _claim(
                2,
                f"EL2N at {g:.0%} pruned loses under 0.3 points against full data at equal epochs",
                "not-worse",
                acc[("el2n", g)],
                full,
            )
        )
        claims.append(_claim(3, f"EL2N at {g:.0%} pruned beats random pruning", "better", acc[("el2n", g)], rnd))
        claims.append(
            _claim(
                4,
                f"GraNd (epoch {setting.score_epoch:g}) at {g:.0%} pruned beats random pruning",
                "better",
                acc[("grand", g)],
                rnd,
            )
        )
        claims.append(
            _claim(
                6,
                f"GraNd at initialisation at {g:.0%} pruned is no better than random pruning",
                "not-better",
                acc[("grand@0", g)],
                rnd,
            )
        )
        claims.append(
            _claim(
                6,
                f"the input norm at {g:.0%} pruned is no better than random pruning",
                "not-better",
                acc[("input-norm", g)],
                rnd,
            )
        )
    kirsch = tables.get("kirsch")
    if kirsch is not None and len(kirsch):
        row = kirsch.iloc[0]
        rhos = [float(row[c]) for c in kirsch.columns if str(c).startswith("spearman_init_")]
        claims.append(
            Claim(
                "GraNd at initialisation ranks examples like the input norm (Spearman's rho > 0.5 over initialisations)",
                "better",
                differences=tuple(r - 0.5 for r in rhos),
                extra={"finding": 5, "unit": "in rho - 0.5"},
            )
        )
    noise = tables.get("label_noise")
    if noise is not None and len(noise):
        seeds = noise[noise["scores"].str.startswith("seed ")]
        chance = float(noise["chance"].iloc[0])
        claims.append(
            Claim(
                f"EL2N's top {chance:.0%} catches flipped labels above chance ({chance:.0%} of them)",
                "better",
                differences=tuple(100 * (r - chance) for r in seeds["recall"]),
                extra={"finding": 7, "unit": "points of the flipped labels caught, above chance"},
            )
        )
    return claims


def lottery_claims(tables: dict[str, pd.DataFrame], lottery: LotteryStudy, out: Path) -> list[Claim]:
    """Findings 9 and 10 from the lottery study's quick part: IMP needs rewinding (k = 0 falls below
    its dense network, k* matches its own, and beats k = 0), and a small random subset suffices for
    the k* pre-training steps; claim (2) needs the full study's easy/hard subsets."""
    lot, levels = tables["lottery"], lottery.study.levels
    k_star, _ = lottery.chosen(out)
    claims = study_claims(lot, levels, k_star=k_star, k_fail=None, sizes=lottery.study.sizes, size=0)
    finding = lambda c: 10 if c.text.startswith("(1)") else 9
    keep = [c for c in claims if not c.text.startswith("hard")]
    return [replace(c, extra={**c.extra, "finding": finding(c)}) for c in keep]


def _claim(finding: int, text: str, kind: str, a: dict, b: dict) -> Claim:
    return Claim(text, kind, differences=tuple(paired_differences(a, b)[0]), extra={"finding": finding})


def run_reproduction(
    *, quick: bool, results: Path, out: Path, executor=None, device: str = DEFAULT_DEVICE, command: str
) -> dict:
    """Run (or resume) the reproduction; its summary."""
    exp = Reproduction(QUICK if quick else FULL, Path(results), command)
    return run_experiment(exp, out=out, executor=executor, device=device, command=command).summary

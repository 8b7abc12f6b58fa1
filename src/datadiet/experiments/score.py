"""Scoring as an experiment: one or more methods scored on a dataset, averaged over their seeds.

The methods are planned together, so those scored at one epoch share their training runs
(:class:`~datadiet.stages.score.CheckpointJob`) and an executor runs them side by side. Each method's
table is its :class:`~datadiet.stages.score.ScoreJob`'s ``score_<hash>/scores.parquet``; the
experiment's folder ``scoring_<hash>`` holds ``results.parquet`` (one row per method: where its
table is, when it was scored, how well its seeds agree, what it cost) and ``summary.json``. The
diagnostic figures of each method go beside its table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.data.split import dataset_description
from datadiet.defaults import DEFAULT_DEVICE
from datadiet.engine import DatasetSpec, ProgressFactory, as_spec, run_experiment
from datadiet.plots.diagnostics import extreme_examples, score_histograms, score_vs_input_norm
from datadiet.runs import RunDir
from datadiet.scores.basic import input_norm
from datadiet.stages.score import ScoreConfig, ScoreJob, ScoreResult


@dataclass(frozen=True)
class ScoreExperiment:
    """Score ``data`` by every config in ``configs``; ``figures``: draw each method's diagnostics."""

    data: DatasetSpec
    configs: tuple[ScoreConfig, ...]
    figures: bool = True

    def jobs(self) -> list[ScoreJob]:
        return [ScoreJob(self.data, c) for c in self.configs]

    def plan(self, out: Path) -> list[ScoreJob]:
        return self.jobs()

    def folder(self, out: Path) -> Path:
        return (
            RunDir(out, "scoring", {"dataset": self.data.key(), "scores": [j.key() for j in self.jobs()]}).create().path
        )

    def results(self, out: Path) -> list[ScoreResult]:
        """Each method's finished result, its score table loaded."""
        return [j.load(out) for j in self.jobs()]

    def collect(self, out: Path) -> dict[str, pd.DataFrame]:
        rows = []
        for j in self.jobs():
            r = j.result(out)
            rows.append(
                {
                    "method": r["method"],
                    "epoch": r["epoch"],
                    "scored_at": r["scored_at"],
                    "seeds": len(r["seeds"]),
                    "seed_agreement": r["seed_agreement"]["pairwise"],
                    "noisy_recall_top10": r.get("noisy_recall_top10"),
                    "scores": str(j.table_path(out)),
                }
            )
        return {"results": pd.DataFrame(rows)}

    def summary(self, tables: dict[str, pd.DataFrame], out: Path) -> dict:
        methods = {}
        for j in self.jobs():
            r = j.result(out)
            entry = {
                "scores": str(j.table_path(out)),
                "scored_at": r["scored_at"],
                "seed_agreement": r["seed_agreement"],
            }
            entry["cost"] = r["cost"]
            if "noisy_recall_top10" in r:
                entry["noisy_recall_top10"] = r["noisy_recall_top10"]
            methods[r["method"]] = entry
        dataset = dataset_description(self.data.key(), self.data.load())
        return {"dataset": dataset, "scores": next(iter(methods.values()))["scores"], "methods": methods}

    def report(self, tables: dict[str, pd.DataFrame], summary: dict, folder: Path) -> dict:
        """Each method's diagnostic figures, beside its score table (``folder`` is ``OUT/scoring_<hash>``,
        so its parent is the output root the tables are under)."""
        if not self.figures:
            return {}
        ds = self.data.load()
        methods = summary["methods"]
        for r in self.results(folder.parent):
            methods[r.config.method].update(score_figures(ds, r))
        return {"methods": methods}


EXTREMES = 16  # the easiest and the hardest examples shown, each


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """The rows :func:`extreme_examples` shows (its ``EXTREMES`` lowest and highest by score, ties by
    index), in index order: the figure of these rows alone is the figure of the whole table."""
    order = table.sort_values(["score", "index"], kind="mergesort")
    k = min(EXTREMES, len(table))
    picked = np.union1d(order.head(k)["index"].to_numpy(), order.iloc[::-1].head(k)["index"].to_numpy())
    return table.set_index(np.arange(len(table))).loc[picked]


def score_figures(dataset: Dataset, result: ScoreResult) -> dict:
    """One method's diagnostic figures beside its table: a histogram per class, the easiest and
    hardest examples (image data), and the score against the input norm with Spearman's ρ."""
    folder = result.path.parent
    method = result.config.method
    figs = [str(score_histograms(result.table, dataset.class_names, folder / "score_histograms.png", method=method))]
    if dataset.is_image:
        rows = _shown(result.table.assign(index=np.arange(len(result.table))))  # image i is row i
        images = dataset.denormalise(dataset.x_train[rows["index"].to_numpy().copy()]).numpy()  # only the rows shown
        rows = rows.assign(index=np.arange(len(rows)))
        figs.append(
            str(extreme_examples(rows, images, dataset.class_names, folder / "extremes.png", method=method, k=EXTREMES))
        )
    norms = input_norm(dataset.x_train)
    rho = score_vs_input_norm(result.scores, norms, folder / "score_vs_input_norm.png", method=method)
    figs.append(str(folder / "score_vs_input_norm.png"))
    return {"figures": figs, "input_norm_spearman": float(rho)}


def score_methods(
    dataset: Dataset | DatasetSpec,
    configs: list[ScoreConfig],
    *,
    out: str | Path,
    progress: ProgressFactory | None = None,
    executor=None,
    device: str = DEFAULT_DEVICE,
    figures: bool = False,
) -> list[ScoreResult]:
    """Score several methods at once (see :class:`ScoreExperiment`); one :class:`ScoreResult` per config."""
    exp = ScoreExperiment(as_spec(dataset), tuple(configs), figures=figures)
    run_experiment(exp, out=out, executor=executor, device=device, progress=progress)
    return exp.results(Path(out))


def score_dataset(
    dataset: Dataset | DatasetSpec,
    config: ScoreConfig,
    *,
    out: str | Path,
    progress: ProgressFactory | None = None,
    executor=None,
    device: str = DEFAULT_DEVICE,
) -> ScoreResult:
    """Run (or load) a scoring run; writes ``OUT/score_<hash>/scores.parquet`` and ``summary.json``.

    The seeds' training runs are :class:`~datadiet.stages.score.CheckpointJob` s run through
    ``executor`` (in-process by default), then the :class:`ScoreJob` averages them.
    """
    return score_methods(dataset, [config], out=out, progress=progress, executor=executor, device=device)[0]

"""The seeds advisor (``datadiet seeds``): from finished score runs, how many score seeds and how early.

A score run keeps each seed's scores: ``scores.parquet`` of every ``OUT/score_<hash>`` has a
``seed_<s>`` column per seed beside the mean. This module reads them, one score run per epoch (a
``datadiet score --method el2n@1,el2n@2,el2n@4`` run scores one method at several epochs, and its
``OUT/scoring_<hash>`` folder lists them all), and hands them to
:func:`datadiet.tables.seeds.epoch_stability` and :func:`datadiet.reports.seeds.seeds_sentence`.
Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datadiet.defaults import DEFAULT_SEED_COUNTS, DEFAULT_SEED_DRAWS, DEFAULT_SEEDS_KEEP, DEFAULT_SEEDS_TARGET
from datadiet.errors import DataDietError
from datadiet.reports.seeds import seeds_sentence
from datadiet.runs import read_json
from datadiet.stages.score import read_score_table
from datadiet.tables.seeds import cheapest_setting, epoch_stability
from datadiet.validation import check_fraction

_WHAT = (
    "a finished `datadiet score` run: OUT/scoring_<hash> (the folder it prints as run_dir) or "
    "OUT/score_<hash> (one method's scores.parquet and summary.json)"
)


@dataclass(frozen=True)
class ScoreRun:
    """One finished score run: its method and epoch, its seeds' scores (S, N), where it is."""

    path: Path
    method: str
    epoch: int | float
    seeds: tuple[int, ...]
    per_seed: np.ndarray  # (S, N): one row per seed
    dataset: dict
    train: dict | None
    scored_at: str


def score_run_dirs(path: str | Path) -> list[Path]:
    """The score run folders (``score_<hash>``) that ``path`` names: itself, or those a ``scoring_<hash>``
    folder lists in its ``config.json`` (found beside it, under the same output root)."""
    p = Path(path)
    if p.is_file() and p.name == "scores.parquet":
        p = p.parent
    if not p.is_dir():
        raise DataDietError(f"run directory not found: {p} (expected {_WHAT})")
    if (p / "scores.parquet").exists():
        return [p]
    config = read_json(p / "config.json") if (p / "config.json").is_file() else None
    listed = config.get("scores") if isinstance(config, dict) else None
    if not (isinstance(listed, list) and listed and all(isinstance(k, str) and "/" not in k for k in listed)):
        raise DataDietError(f"{p} is not {_WHAT}")
    if not (p / "summary.json").is_file():
        raise DataDietError(f"scoring run {p} is not finished (no summary.json): run its `datadiet score` again")
    return [p.parent / k for k in listed]


def read_score_run(folder: str | Path) -> ScoreRun:
    """A finished score run's per-seed scores and what they are (method, epoch, seeds, dataset)."""
    p = Path(folder)
    if not (p / "summary.json").is_file():
        raise DataDietError(f"score run {p} is not finished (no summary.json)")
    summary = read_json(p / "summary.json")
    if not isinstance(summary, dict) or not {"method", "epoch", "seeds"} <= set(summary):
        if isinstance(summary, dict) and summary.get("method") == "table":
            raise DataDietError(f"{p} holds a copied score table, which has no per-seed scores; pass {_WHAT}")
        raise DataDietError(f"{p}/summary.json is not a score run's summary (no method, epoch and seeds)")
    table = read_score_table(p / "scores.parquet")
    seeds = tuple(int(s) for s in summary["seeds"])
    missing = [f"seed_{s}" for s in seeds if f"seed_{s}" not in table.columns]
    if missing:
        raise DataDietError(f"score table {p / 'scores.parquet'} lacks the per-seed column(s) {', '.join(missing)}")
    config = read_json(p / "config.json") if (p / "config.json").is_file() else {}
    score = config.get("score") if isinstance(config, dict) else None
    return ScoreRun(
        path=p,
        method=str(summary["method"]),
        epoch=summary["epoch"],
        seeds=seeds,
        per_seed=table[[f"seed_{s}" for s in seeds]].to_numpy(dtype=np.float64).T,
        dataset=summary.get("dataset") or {},
        train=score.get("train") if isinstance(score, dict) else None,
        scored_at=str(summary.get("scored_at", "")),
    )


def load_score_runs(paths: Sequence[str | Path], *, method: str | None = None) -> list[ScoreRun]:
    """The score runs of one method that ``paths`` name (each a ``scoring_<hash>`` or ``score_<hash>``
    folder), one per epoch, sorted by epoch; checked to be of one dataset and one training setup."""
    folders = list(dict.fromkeys(d.resolve() for p in paths for d in score_run_dirs(p)))
    if not folders:
        raise DataDietError(f"name at least one run directory ({_WHAT})")
    runs = [read_score_run(f) for f in folders]
    fingerprints = {str((r.dataset or {}).get("fingerprint")) for r in runs}
    if len(fingerprints) > 1:
        raise DataDietError(
            f"the score runs were made on different datasets (fingerprints {', '.join(sorted(fingerprints))})"
        )
    methods = sorted({r.method for r in runs})
    if method is None and len(methods) > 1:
        raise DataDietError(
            f"the runs score several methods ({', '.join(methods)}); choose one, e.g. method={methods[0]}"
        )
    chosen = method if method is not None else methods[0]
    runs = [r for r in runs if r.method == chosen]
    if not runs:
        raise DataDietError(f"unknown method {chosen!r}; the runs score: {', '.join(methods)}")
    by_epoch: dict = {}
    for r in runs:
        if r.epoch in by_epoch:
            raise DataDietError(
                f"two score runs of {chosen} at epoch {r.epoch:g}: {by_epoch[r.epoch].path} and {r.path}"
            )
        by_epoch[r.epoch] = r
    differ = sorted(
        {k for r in runs if r.train and runs[0].train for k in r.train if r.train[k] != runs[0].train.get(k)}
    )
    if differ:
        raise DataDietError(
            f"the score runs of {chosen} differ in their training ({', '.join(differ)}): the epochs compared must be "
            f"points of one schedule; score them in one run, e.g. --method {chosen}@1,{chosen}@2"
        )
    return [by_epoch[e] for e in sorted(by_epoch)]


def seeds_advice(
    paths: Sequence[str | Path],
    *,
    method: str | None = None,
    keep: float | Sequence[float] = DEFAULT_SEEDS_KEEP,
    target: float = DEFAULT_SEEDS_TARGET,
    counts: Sequence[int] = DEFAULT_SEED_COUNTS,
    draws: int = DEFAULT_SEED_DRAWS,
    seed: int = 0,
) -> dict:
    """How the kept set moves with the number of score seeds and the score epoch, for one method of the
    score runs ``paths`` (see :mod:`datadiet.tables.seeds` for the method), and one sentence per kept
    fraction naming the cheapest setting whose mean overlap with its reference is >= ``target``.

    Returns ``method, dataset, num_examples, seeds, epochs, runs, keep, target, draws, counts, rows``
    (the table as records), ``advice`` (per kept fraction: the chosen row or None, and its sentence)
    and ``sentence`` (the sentences joined).
    """
    target = check_fraction("target", target)
    runs = load_score_runs(paths, method=method)
    common = [s for s in runs[0].seeds if all(s in r.seeds for r in runs)]
    if len(common) < 2:
        raise DataDietError(
            f"the seeds advisor compares seeds with other seeds: it needs at least 2 score seeds common to every "
            f"epoch, the runs have {len(common)} (score with --seeds 4 or more)"
        )
    per_epoch = {r.epoch: r.per_seed[[r.seeds.index(s) for s in common]] for r in runs}
    table = epoch_stability(per_epoch, keep=keep, counts=counts, draws=draws, seed=seed)
    advice = []
    for k in dict.fromkeys(float(x) for x in table["keep"]):
        chosen = cheapest_setting(table, keep=k, target=target)
        advice.append(
            {
                "keep": k,
                "chosen": None if chosen is None else chosen.to_dict(),
                "sentence": seeds_sentence(table, keep=k, target=target),
            }
        )
    return {
        "method": runs[0].method,
        "dataset": runs[0].dataset,
        "num_examples": int(runs[0].per_seed.shape[1]),
        "seeds": common,
        "epochs": [r.epoch for r in runs],
        "runs": {str(r.epoch): str(r.path) for r in runs},
        "keep": [a["keep"] for a in advice],
        "target": float(target),
        "draws": int(draws),
        "counts": [int(c) for c in counts],
        "rows": table.to_dict("records"),
        "advice": advice,
        "sentence": " ".join(a["sentence"] + "." for a in advice),
    }

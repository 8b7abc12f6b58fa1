"""Scoring runs: K independent initialisations trained t epochs, scored at t, averaged over K.

Each seed is an independent unit of work with its own run directory
``OUT/ckpt_<hash>`` (dataset fingerprint, training config with that seed's seeds, epoch t). One
training run per (seed, t) serves every method: it saves the model at epoch t (for EL2N, GraNd,
loss, margin) and the forgetting and AUM counts gathered by batch hooks on the way. Scores per
method are cached beside the checkpoint, so re-running, or scoring another method, redoes nothing.
The aggregate lives in ``OUT/score_<hash>/scores.parquet``: one row per training example with
``index, label, score`` (mean over seeds), ``score_std`` and ``seed_<s>`` (each seed's raw scores).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datadiet.data.dataset import Dataset
from datadiet.defaults import DEFAULT_SCORE_EPOCH
from datadiet.errors import DataDietError
from datadiet.experiments.training import RunDirCheckpointer, dataset_key
from datadiet.models import build_model
from datadiet.runs import (
    RunDir,
    atomic_save_npy,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    read_json,
    runtime_info,
)
from datadiet.scores.basic import input_norm, random_scores
from datadiet.scores.dynamics import AUMHook, ForgettingHook
from datadiet.scores.methods import BASELINES, DYNAMIC_METHODS, METHODS, MODEL_METHODS, scored_at, seed_agreement
from datadiet.selection import noisy_recall
from datadiet.training import TrainConfig, train
from datadiet.validation import check_choice, check_positive_int, seeds_from

SCORE_SEED_OFFSET = 10_000  # scoring runs use seeds 10000+s, apart from the evaluation runs' seeds
# Cache file tags of methods whose definition changed (a cached file under the old name is never read).
_CACHE_TAG = {"margin": "margin-prob"}

ProgressFactory = Callable[[str], Callable[[int, int], None]]


@dataclass(frozen=True)
class ScoreConfig:
    """What a scoring run computes: ``method`` at epoch ``epoch`` of ``train``'s schedule, for each seed.

    ``epoch=None`` means the method's default: :data:`DEFAULT_SCORE_EPOCH` for model-based scores,
    the whole schedule (``train.epochs``) for forgetting and AUM, whose counts are statistics of a
    training run (Toneva et al. count over all of training), and 0 for the baselines.
    """

    method: str
    epoch: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        check_choice("method", self.method, METHODS)
        if self.epoch is None:
            default = {**dict.fromkeys(DYNAMIC_METHODS, self.train.epochs), **dict.fromkeys(BASELINES, 0)}
            object.__setattr__(self, "epoch", default.get(self.method, DEFAULT_SCORE_EPOCH))
        check_positive_int("epoch", self.epoch, allow_zero=True)
        object.__setattr__(self, "seeds", tuple(seeds_from("seeds", self.seeds)))
        if self.method in DYNAMIC_METHODS and self.epoch == 0:
            raise DataDietError(f"method {self.method!r} counts over training: epoch must be >= 1, got 0")
        if self.epoch > self.train.epochs:
            raise DataDietError(
                f"epoch must be <= the training schedule's epochs ({self.train.epochs}), got {self.epoch}"
            )

    def seed_config(self, seed: int) -> TrainConfig:
        return self.train.with_seed(SCORE_SEED_OFFSET + seed)

    @property
    def scored_at(self) -> str:
        return scored_at(self.method, self.epoch, self.train.epochs)


@dataclass
class ScoreResult:
    config: ScoreConfig
    table: pd.DataFrame
    per_seed: np.ndarray  # (N, K)
    seed_agreement: dict
    cost: dict
    path: Path | None = None
    summary: dict = field(default_factory=dict)  # what summary.json beside the table holds

    @property
    def scores(self) -> np.ndarray:
        return self.table["score"].to_numpy()


def _load_npy(path: Path, n: int) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a corrupt cache entry is recomputed
    return a if a.shape == (n,) else None


def _seed_unit(dataset: Dataset, config: ScoreConfig, seed: int, out: Path, progress) -> tuple[np.ndarray, dict]:
    """Scores of one seed (cached in its run directory) and the compute it cost."""
    tcfg = config.seed_config(seed)
    rd = RunDir(out, "ckpt", {"dataset": dataset_key(dataset), "train": tcfg, "epoch": config.epoch}).create()
    with rd.lock():  # one process at a time trains or scores in this directory
        return _seed_unit_locked(rd, dataset, config, tcfg, progress)


def _seed_unit_locked(rd: RunDir, dataset: Dataset, config: ScoreConfig, tcfg: TrainConfig, progress):
    n = dataset.num_train
    cost_path = rd.file("cost.json")
    cost = read_json(cost_path) if cost_path.exists() else {}
    tag = _CACHE_TAG.get(config.method, config.method)

    def seed_cost(cost: dict) -> dict:
        return {
            "train_examples": cost["train_examples"],
            "train_seconds": cost["train_seconds"],
            **cost["methods"][tag],
        }

    cached = _load_npy(rd.file(f"scores_{tag}.npy"), n)
    if cached is not None and tag in cost.get("methods", {}):
        return cached, seed_cost(cost)
    model_path = rd.file("model.pt")
    if not model_path.exists() or not rd.file("dynamics.npz").exists():
        hooks = [ForgettingHook(n), AUMHook(n)]
        steps = config.epoch * tcfg.steps_per_epoch(n)
        if steps == 0:
            model = build_model(
                tcfg.model, dataset.input_shape, dataset.num_classes, width=tcfg.width, seed=tcfg.init_seed
            )
            res_steps, res_examples, res_seconds = 0, 0, 0.0
        else:
            # stop_at is absolute: a run resumed after a kill stops at epoch t, not t past the resume
            res = train(
                dataset, tcfg, hooks=hooks, checkpointer=RunDirCheckpointer(rd.path), stop_at=steps, progress=progress
            )
            model, res_steps, res_examples, res_seconds = res.model, res.steps, res.examples_seen, res.seconds
        buf = io.BytesIO()
        np.savez(buf, forgetting=hooks[0].scores(), aum=hooks[1].scores())
        atomic_write_bytes(rd.file("dynamics.npz"), buf.getvalue())
        atomic_torch_save(model_path, model.state_dict())
        cost = {
            "train_steps": res_steps,
            "train_examples": res_examples,
            "train_seconds": res_seconds,
            "methods": {},
            "runtime": runtime_info(),
        }
        atomic_write_json(cost_path, cost)
        RunDirCheckpointer(rd.path).clear_state()
    t0 = time.perf_counter()
    if config.method in DYNAMIC_METHODS:
        with np.load(rd.file("dynamics.npz")) as z:
            scores = np.asarray(z[config.method], dtype=np.float64)
        score_examples = 0
    else:
        model = build_model(tcfg.model, dataset.input_shape, dataset.num_classes, width=tcfg.width, seed=tcfg.init_seed)
        model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=True))
        scores = MODEL_METHODS[config.method](model, dataset.x_train, dataset.y_train)
        score_examples = n
    atomic_save_npy(rd.file(f"scores_{tag}.npy"), scores)
    method_cost = {"score_examples": score_examples, "score_seconds": time.perf_counter() - t0}
    cost = read_json(cost_path)
    cost["methods"][tag] = method_cost
    atomic_write_json(cost_path, cost)
    return scores, seed_cost(cost)


def score_table(dataset: Dataset, per_seed: np.ndarray, seeds) -> pd.DataFrame:
    """One row per training example: index, label, score (mean), score_std, seed_<s>[, noisy]."""
    table = pd.DataFrame(
        {
            "index": dataset.index,
            "label": dataset.y_train.numpy().astype(np.int64),
            "score": per_seed.mean(axis=1),
            # spread between seeds: sample std (ddof=1), NaN with a single seed
            "score_std": per_seed.std(axis=1, ddof=1) if per_seed.shape[1] > 1 else np.full(per_seed.shape[0], np.nan),
        }
    )
    for k, s in enumerate(seeds):
        table[f"seed_{s}"] = per_seed[:, k]
    if dataset.noisy is not None:
        table["noisy"] = dataset.noisy
    return table


def score_dataset(
    dataset: Dataset,
    config: ScoreConfig,
    *,
    out: str | Path,
    progress: ProgressFactory | None = None,
) -> ScoreResult:
    """Run (or load) a scoring run; writes ``OUT/score_<hash>/scores.parquet`` and ``summary.json``."""
    out = Path(out)
    rd = RunDir(out, "score", {"dataset": dataset_key(dataset), "score": config}).create()
    n = dataset.num_train
    per_seed = np.empty((n, len(config.seeds)))
    cost = {"train_examples": 0, "train_seconds": 0.0, "score_examples": 0, "score_seconds": 0.0}
    for k, s in enumerate(config.seeds):
        if config.method == "random":
            per_seed[:, k] = random_scores(n, seed=s)
            continue
        if config.method == "input-norm":  # the same for every seed: computed (and costed) once
            if k == 0:
                t0 = time.perf_counter()
                per_seed[:, 0] = input_norm(dataset.x_train)
                cost["score_examples"] += n
                cost["score_seconds"] += time.perf_counter() - t0
            else:
                per_seed[:, k] = per_seed[:, 0]
            continue
        cb = progress(f"{config.method} seed {s}: train to epoch {config.epoch}") if progress else None
        scores, c = _seed_unit(dataset, config, s, out, cb)
        per_seed[:, k] = scores
        for key in cost:
            cost[key] += c[key]
    if not np.isfinite(per_seed).all():
        raise DataDietError(f"{config.method} produced non-finite scores (did training diverge? try a lower --lr)")
    table = score_table(dataset, per_seed, config.seeds)
    agreement = seed_agreement(per_seed)
    path = rd.file("scores.parquet")
    atomic_write_parquet(path, table)
    summary = {
        "method": config.method,
        "epoch": config.epoch,
        "seeds": list(config.seeds),
        "scored_at": config.scored_at,
        "seed_agreement": agreement,
        "cost": cost,
        "dataset": dataset_key(dataset),
        "num_examples": n,
        "runtime": runtime_info(),
    }
    if dataset.noisy is not None:  # how many corrupted labels the top-scored 10% catches
        summary["noisy_recall_top10"] = noisy_recall(table["score"].to_numpy(), dataset.noisy, top=0.1)
    atomic_write_json(rd.file("summary.json"), summary)
    return ScoreResult(
        config=config, table=table, per_seed=per_seed, seed_agreement=agreement, cost=cost, path=path, summary=summary
    )


def read_score_table(path: str | Path, *, dataset: Dataset | None = None) -> pd.DataFrame:
    """Read and check a score table (as written by :func:`score_dataset`), optionally against a dataset."""
    p = Path(path)
    if not p.is_file():
        raise DataDietError(f"score table not found: {p}")
    try:
        table = pd.read_parquet(p)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataDietError(f"corrupt score table {p}: {type(e).__name__}") from None
    missing = [c for c in ("index", "label", "score") if c not in table.columns]
    if missing:
        raise DataDietError(f"score table {p} lacks column(s) {', '.join(missing)}")
    if not np.array_equal(table["index"].to_numpy(), np.arange(len(table))):
        raise DataDietError(f"score table {p} must have one row per example with index 0..N-1 in order")
    labels = table["label"].to_numpy()
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise DataDietError(f"score table {p} must have integer class labels >= 0 in column 'label'")
    if dataset is not None:
        if len(table) != dataset.num_train:
            raise DataDietError(
                f"score table {p} has {len(table)} rows but {dataset.name} has {dataset.num_train} training examples"
            )
        if not np.array_equal(table["label"].to_numpy(), dataset.y_train.numpy()):
            raise DataDietError(f"score table {p} labels do not match {dataset.name}'s training labels")
    return table

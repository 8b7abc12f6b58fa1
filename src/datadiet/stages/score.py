"""Scoring runs: K independent initialisations trained t epochs, scored at t, averaged over K.

Two kinds of job. A :class:`CheckpointJob` is one seed's training run to epoch t, with its own run
directory ``OUT/ckpt_<hash>`` (dataset fingerprint, training config with that seed's seeds, epoch
t); it serves every method: it saves the model at epoch t (for EL2N, GraNd, loss, margin) and the
forgetting and AUM counts gathered by batch hooks on the way. A :class:`ScoreJob` (``OUT/score_<hash>``)
scores one method from its seeds' checkpoints and writes ``scores.parquet``: one row per training
example with ``index, label, score`` (mean over seeds), ``score_std`` and ``seed_<s>`` (each seed's
raw scores). Re-running, or scoring another method at the same epoch, retrains nothing.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from datadiet.data.dataset import Dataset
from datadiet.data.split import dataset_description
from datadiet.defaults import DEFAULT_SCORE_EPOCH
from datadiet.engine.datasets import DatasetSpec
from datadiet.engine.jobs import Context, Job
from datadiet.engine.weights import BuildsModel, RunDirCheckpointer, cpu_state, load_trained_model
from datadiet.errors import DataDietError
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
from datadiet.scores.methods import BASELINES, METHODS, MODEL_METHODS, TRAINING_DYNAMICS, scored_at, seed_agreement
from datadiet.selection import noisy_recall
from datadiet.training import TrainConfig, train
from datadiet.validation import check_choice, check_epoch, seeds_from

SCORE_SEED_OFFSET = 10_000  # scoring runs use seeds 10000+s, apart from the evaluation runs' seeds


@dataclass(frozen=True)
class ScoreConfig:
    """What a scoring run computes: ``method`` at epoch ``epoch`` of ``train``'s schedule, for each seed.

    ``epoch=None`` means the method's default: :data:`DEFAULT_SCORE_EPOCH` for model-based scores,
    the whole schedule (``train.epochs``) for forgetting and AUM, whose counts are statistics of a
    training run (Toneva et al. count over all of training), and 0 for the baselines.
    """

    method: str
    epoch: int | float | None = None
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        check_choice("method", self.method, METHODS)
        if self.epoch is None:
            default = {**dict.fromkeys(TRAINING_DYNAMICS, self.train.epochs), **dict.fromkeys(BASELINES, 0)}
            object.__setattr__(self, "epoch", default.get(self.method, DEFAULT_SCORE_EPOCH))
        object.__setattr__(self, "epoch", check_epoch("epoch", self.epoch))
        if self.method in TRAINING_DYNAMICS and not isinstance(self.epoch, int):
            raise DataDietError(
                f"method {self.method!r} counts whole epochs: epoch must be an integer, got {self.epoch}"
            )
        object.__setattr__(self, "seeds", tuple(seeds_from("seeds", self.seeds)))
        if self.method in TRAINING_DYNAMICS and self.epoch == 0:
            raise DataDietError(f"method {self.method!r} counts over training: epoch must be >= 1, got 0")
        if self.epoch > self.train.epochs and self.method not in BASELINES:  # baselines train nothing
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


@dataclass(frozen=True)
class CheckpointJob(BuildsModel, Job):
    """One scoring seed's training run, stopped at epoch ``epoch``: ``model.pt`` (the model at epoch t)
    and ``dynamics.npz`` (forgetting and AUM counted on the way), ``cost.json`` last.

    Keyed by dataset, training config (with this seed's seeds) and epoch, not by method: every
    method scored at epoch t from this seed shares it. ``stop_at`` is absolute, so a run resumed
    after a kill stops at epoch t, not t epochs past the resume.
    """

    data: DatasetSpec
    train: TrainConfig
    epoch: int | float
    kind: ClassVar[str] = "ckpt"
    marker: ClassVar[str] = "cost.json"

    def config(self) -> dict:
        return {"dataset": self.data.key(), "train": self.train, "epoch": self.epoch}

    def describe(self) -> str:
        return f"scoring run seed {self.train.init_seed - SCORE_SEED_OFFSET}: train to epoch {self.epoch}"

    def run(self, rd: RunDir, ctx: Context) -> dict:
        dataset = self.data.load()
        n = dataset.num_train
        tcfg = self.train
        hooks = [ForgettingHook(n), AUMHook(n)]
        steps = math.floor(self.epoch * tcfg.steps_per_epoch(n) + 0.5)  # a fractional epoch: its nearest step
        if steps == 0:
            model = build_model(
                tcfg.model, dataset.input_shape, dataset.num_classes, width=tcfg.width, seed=tcfg.init_seed
            )
            res_steps, res_examples, res_seconds = 0, 0, 0.0
        else:
            res = train(
                dataset,
                tcfg,
                hooks=hooks,
                checkpointer=RunDirCheckpointer(rd.path),
                stop_at=steps,
                progress=ctx.bar(self.describe()),
                device=ctx.device,
            )
            model, res_steps, res_examples, res_seconds = res.model, res.steps, res.examples_seen, res.seconds
        buf = io.BytesIO()
        np.savez(buf, forgetting=hooks[0].scores(), aum=hooks[1].scores())
        atomic_write_bytes(rd.file("dynamics.npz"), buf.getvalue())
        atomic_torch_save(rd.file("model.pt"), {k: v.cpu() for k, v in model.state_dict().items()})
        return {
            "train_steps": res_steps,
            "train_examples": res_examples,
            "train_seconds": res_seconds,
            "runtime": {**runtime_info(), "device": ctx.device},
        }

    def cleanup(self, rd: RunDir) -> None:
        RunDirCheckpointer(rd.path).clear_state()

    def model(self, out: str | Path, dataset: Dataset):
        return load_trained_model(self.train, dataset, self.path(out) / "model.pt", f"scoring run {self.key()}'s model")

    def dynamics(self, out: str | Path, method: str) -> np.ndarray:
        with np.load(self.path(out) / "dynamics.npz") as z:
            return np.asarray(z[method], dtype=np.float64)


@dataclass(frozen=True)
class ScoreJob(Job):
    """Score every training example by ``config.method`` at ``config.epoch``, averaged over its seeds.

    Depends on one :class:`CheckpointJob` per seed (none for ``random`` and ``input-norm``). Each
    seed's scores are kept in the run directory as they finish (``seed_<s>.npy``), so a killed job
    redoes only unfinished seeds; ``scores.parquet`` and ``summary.json`` (last) close it.
    """

    data: DatasetSpec
    score: ScoreConfig
    kind: ClassVar[str] = "score"
    marker: ClassVar[str] = "summary.json"

    def config(self) -> dict:
        return {"dataset": self.data.key(), "score": self.score}

    @property
    def scored_at(self) -> str:
        return self.score.scored_at

    @property
    def label(self) -> str:
        c = self.score
        return c.method if c.method in BASELINES else f"{c.method}@{c.epoch}"

    def describe(self) -> str:
        return f"score {self.label} over {len(self.score.seeds)} seed(s)"

    def checkpoint(self, seed: int) -> CheckpointJob:
        return CheckpointJob(self.data, self.score.seed_config(seed), self.score.epoch)

    def deps(self) -> tuple[Job, ...]:
        if self.score.method in BASELINES:
            return ()
        return tuple(self.checkpoint(s) for s in self.score.seeds)

    def table_path(self, out: str | Path) -> Path:
        return self.path(out) / "scores.parquet"

    def _seed_scores(self, rd: RunDir, ctx: Context, dataset: Dataset, seed: int) -> tuple[np.ndarray, dict]:
        n = dataset.num_train
        method = self.score.method
        cached = _load_npy(rd.file(f"seed_{seed}.npy"), n)
        cost_path = rd.file(f"seed_{seed}.json")
        if cached is not None and cost_path.exists():
            return cached, read_json(cost_path)
        t0 = time.perf_counter()
        cost = {"train_examples": 0, "train_seconds": 0.0, "score_examples": 0}
        scores = _SEED_SCORERS[method](self, ctx, rd, dataset, seed, cost)
        cost["score_seconds"] = 0.0 if not cost["score_examples"] else time.perf_counter() - t0
        atomic_save_npy(rd.file(f"seed_{seed}.npy"), scores)
        atomic_write_json(cost_path, cost)
        return scores, cost

    def run(self, rd: RunDir, ctx: Context) -> dict:
        config = self.score
        dataset = self.data.load()
        n = dataset.num_train
        per_seed = np.empty((n, len(config.seeds)))
        cost = {"train_examples": 0, "train_seconds": 0.0, "score_examples": 0, "score_seconds": 0.0}
        for k, s in enumerate(config.seeds):
            per_seed[:, k], c = self._seed_scores(rd, ctx, dataset, s)
            for key in cost:
                cost[key] += c[key]
        if not np.isfinite(per_seed).all():
            raise DataDietError(f"{config.method} produced non-finite scores (did training diverge? try a lower --lr)")
        table = score_table(dataset, per_seed, config.seeds)
        agreement = seed_agreement(per_seed)
        atomic_write_parquet(rd.file("scores.parquet"), table)
        summary = {
            "method": config.method,
            "epoch": config.epoch,
            "seeds": list(config.seeds),
            "scored_at": config.scored_at,
            "seed_agreement": agreement,
            "cost": cost,
            "dataset": dataset_description(self.data.key(), dataset),
            "num_examples": n,
            "runtime": {**runtime_info(), "device": ctx.device},
        }
        if dataset.noisy is not None:  # how many corrupted labels the top-scored 10% catches
            summary["noisy_recall_top10"] = noisy_recall(table["score"].to_numpy(), dataset.noisy, top=0.1)
        return summary

    def load(self, out: str | Path) -> ScoreResult:
        """The result of this (finished) job."""
        summary = self.result(out)
        path = self.table_path(out)
        table = read_score_table(path)
        seeds = self.score.seeds
        per_seed = table[[f"seed_{s}" for s in seeds]].to_numpy() if seeds else np.empty((len(table), 0))
        return ScoreResult(
            config=self.score,
            table=table,
            per_seed=per_seed,
            seed_agreement=summary["seed_agreement"],
            cost=summary["cost"],
            path=path,
            summary=summary,
        )


TABLE_PREFIX = "table:"


@dataclass(frozen=True)
class TableScoreJob(Job):
    """Scores from a score table file (``scores.parquet`` of any scoring run, the LMC barrier, or your
    own ``index, label, score`` table), checked against the dataset and copied into the run directory
    ``score_<hash>`` (keyed by the file's content), so a sweep selects from it like from any score."""

    data: DatasetSpec
    source: str
    digest: str
    unverified: bool = field(default=False, compare=False)  # taken without a recorded dataset (not in the key)
    kind: ClassVar[str] = "score"
    marker: ClassVar[str] = "summary.json"

    @classmethod
    def of(cls, data: DatasetSpec, path: str | Path, *, unverified: bool = False) -> TableScoreJob:
        p = Path(path)
        try:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        except OSError:
            raise DataDietError(f"score table not found: {p}") from None
        read_score_table(p, dataset=data.load(), unverified=unverified)  # a table that does not fit: refused now
        return cls(data, str(p), digest, unverified)

    def config(self) -> dict:
        return {"dataset": self.data.key(), "table": self.digest}

    @property
    def label(self) -> str:
        return f"{TABLE_PREFIX}{Path(self.source).parent.name or self.source}"

    @property
    def scored_at(self) -> str:
        return "from a score table"

    def describe(self) -> str:
        return f"scores from {self.source}"

    def table_path(self, out: str | Path) -> Path:
        return self.path(out) / "scores.parquet"

    def run(self, rd: RunDir, ctx: Context) -> dict:
        table = read_score_table(self.source, dataset=self.data.load(), unverified=self.unverified)
        atomic_write_parquet(rd.file("scores.parquet"), table)
        return {
            "method": "table",
            "source": self.source,
            "scored_at": self.scored_at,
            "cost": {"train_examples": 0, "train_seconds": 0.0, "score_examples": 0, "score_seconds": 0.0},
            "cost_note": "the table's own cost is not known here",
            "dataset": self.data.key(),
            "num_examples": len(table),
        }


def _random(job: ScoreJob, ctx: Context, rd: RunDir, dataset: Dataset, seed: int, cost: dict) -> np.ndarray:
    return random_scores(dataset.num_train, seed=seed)


def _input_norm(job: ScoreJob, ctx: Context, rd: RunDir, dataset: Dataset, seed: int, cost: dict) -> np.ndarray:
    first = job.score.seeds[0]
    if seed != first:  # the same for every seed: computed (and costed) once
        return job._seed_scores(rd, ctx, dataset, first)[0]
    cost["score_examples"] = dataset.num_train
    return input_norm(dataset.x_train)


def _trained(job: ScoreJob, ctx: Context, seed: int, cost: dict) -> CheckpointJob:
    ck = job.checkpoint(seed)
    trained = ck.result(ctx.out)
    cost.update(train_examples=trained["train_examples"], train_seconds=trained["train_seconds"])
    return ck


def _dynamic(job: ScoreJob, ctx: Context, rd: RunDir, dataset: Dataset, seed: int, cost: dict) -> np.ndarray:
    return _trained(job, ctx, seed, cost).dynamics(ctx.out, job.score.method)


def _model_based(job: ScoreJob, ctx: Context, rd: RunDir, dataset: Dataset, seed: int, cost: dict) -> np.ndarray:
    ck = _trained(job, ctx, seed, cost)
    model = ck.model(ctx.out, dataset)  # the saved weights checked against the model here
    cost["score_examples"] = dataset.num_train
    if ctx.scoring is not None:  # in shards on Ray: the same numbers (see datadiet.engine.sharded)
        t = ck.train
        build = functools.partial(
            build_model, t.model, dataset.input_shape, dataset.num_classes, width=t.width, seed=t.init_seed
        )
        return ctx.scoring.score((build, cpu_state(model)), dataset, job.score.method)
    return MODEL_METHODS[job.score.method](model.to(ctx.device), dataset.x_train, dataset.y_train)


# method -> how one seed's scores are computed (and what they cost)
_SEED_SCORERS = {
    "random": _random,
    "input-norm": _input_norm,
    **dict.fromkeys(TRAINING_DYNAMICS, _dynamic),
    **dict.fromkeys(MODEL_METHODS, _model_based),
}
assert set(_SEED_SCORERS) == set(METHODS)


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


UNVERIFIED_HINT = "unverified=True (CLI: --unverified-tables)"


def table_provenance(path: str | Path) -> dict | None:
    """The dataset (name, fingerprint) a score table was made on, from the ``summary.json`` that every
    scoring run writes beside its table; None when nothing beside it records one."""
    summary = Path(path).parent / "summary.json"
    if not summary.is_file():
        return None
    made_on = read_json(summary)  # a corrupt file is one line
    made_on = made_on.get("dataset") if isinstance(made_on, dict) else None
    return made_on if isinstance(made_on, dict) and made_on.get("fingerprint") else None


def check_provenance(path: str | Path, dataset: Dataset, *, unverified: bool = False) -> None:
    """A score table must record that it was made on ``dataset`` (its fingerprint), or be taken
    explicitly ``unverified`` (your own table: only its length and labels are checked then)."""
    made_on = table_provenance(path)
    if made_on is None and not unverified:
        raise DataDietError(
            f"score table {path} records no dataset (no summary.json with its fingerprint beside it); to use it "
            f"on {dataset.name!r} with only its length and labels checked, pass {UNVERIFIED_HINT}"
        )
    if made_on is not None and made_on["fingerprint"] != dataset.fingerprint:
        raise DataDietError(
            f"score table {path} was made on dataset {made_on.get('name')!r} (fingerprint {made_on['fingerprint']}), "
            f"not on {dataset.name!r} (fingerprint {dataset.fingerprint})"
        )


def _split_table(path: Path, dataset: Dataset | None) -> bool:
    """Whether a table's rows are a validation split's training part (indices with gaps): the dataset
    given has a validation part, or, without one, the ``summary.json`` beside the table records one."""
    if dataset is not None:
        return dataset.x_val is not None
    return bool((table_provenance(path) or {}).get("validation"))


def read_score_table(path: str | Path, *, dataset: Dataset | None = None, unverified: bool = False) -> pd.DataFrame:
    """Read and check a score table (as written by :func:`score_dataset`), optionally against a dataset
    (see :func:`check_provenance`). Its ``index`` column is 0..N-1, or, on data with a validation part
    (``dataset`` has one, or the table's ``summary.json`` records one), the training examples' stable
    indices: ascending, and ``dataset.index`` when given."""
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
    index = table["index"].to_numpy()
    if not _split_table(p, dataset):
        if not np.array_equal(index, np.arange(len(table))):
            raise DataDietError(f"score table {p} must have one row per example with index 0..N-1 in order")
    elif (
        not (np.issubdtype(index.dtype, np.integer) and (index.size == 0 or index[0] >= 0))
        or (np.diff(index) <= 0).any()
    ):
        raise DataDietError(
            f"score table {p} must have one row per training example, its stable indices in ascending order"
        )
    labels = table["label"].to_numpy()
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise DataDietError(f"score table {p} must have integer class labels >= 0 in column 'label'")
    scores = table["score"].to_numpy()
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(scores.dtype, np.complexfloating):
        raise DataDietError(f"score table {p} must have real numbers in column 'score', got {scores.dtype}")
    bad = np.flatnonzero(~np.isfinite(scores.astype(np.float64)))
    if bad.size:
        raise DataDietError(
            f"score table {p} has {bad.size} score(s) that are NaN or infinite (the first at index {bad[0]}); "
            "every example needs a finite score"
        )
    if dataset is not None:
        if len(table) != dataset.num_train:
            raise DataDietError(
                f"score table {p} has {len(table)} rows but {dataset.name} has {dataset.num_train} training examples"
            )
        if not np.array_equal(index, dataset.index):
            raise DataDietError(
                f"score table {p} names other examples than {dataset.name}'s training set (its index column "
                "differs from the training examples' stable indices: made with another validation split?)"
            )
        if not np.array_equal(table["label"].to_numpy(), dataset.y_train.numpy()):
            raise DataDietError(f"score table {p} labels do not match {dataset.name}'s training labels")
        check_provenance(p, dataset, unverified=unverified)
    return table

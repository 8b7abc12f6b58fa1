"""``datadiet prune`` as a function: keep a fraction of a scored training set, write the indices.

Reads a score table (``scores.parquet`` from a scoring job), finds its dataset (given, or named in
the ``summary.json`` beside the table), selects, and writes the kept indices (``.npy`` or ``.txt``)
and optionally the pruned dataset (``.npz``), each atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.defaults import DEFAULT_CCS_BINS
from datadiet.errors import DataDietError
from datadiet.experiments.jobs import DatasetSpec
from datadiet.experiments.scoring import read_score_table
from datadiet.runs import atomic_save_npy, atomic_write_bytes, read_json
from datadiet.selection import kept_per_class, select, storage_report, strategy_options
from datadiet.validation import check_fraction


def table_dataset(scores: str | Path) -> str | None:
    """The dataset name a score table was computed on (from ``summary.json`` beside it), if known."""
    summary_path = Path(scores).parent / "summary.json"
    if not summary_path.exists():
        return None
    return (read_json(summary_path).get("dataset") or {}).get("name")


def prune(
    scores: str | Path,
    *,
    keep: float,
    out: str | Path,
    strategy: str = "hardest",
    offset: float = 0.0,
    balanced: bool = False,
    hard_cutoff: float = 0.0,
    bins: int = DEFAULT_CCS_BINS,
    seed: int = 0,
    dataset: str | DatasetSpec | Dataset | None = None,
    data_dir: str | None = None,
    label_noise: float = 0.0,
    noise_seed: int = 0,
    samples: int | None = None,
    export: str | Path | None = None,
) -> dict:
    """Keep ``keep`` of the table's examples by ``strategy``; returns what was kept (per class) and
    the storage saved. ``dataset`` (a name, spec or dataset; default: the one named beside the table)
    checks the table's labels and gives class names, bytes per example and the ``export``."""
    keep = check_fraction("keep", keep)
    out_path = Path(out)
    if out_path.suffix not in (".npy", ".txt"):
        raise DataDietError(f"out must end in .npy or .txt, got {str(out)!r}")
    if export is not None and not str(export).endswith(".npz"):
        raise DataDietError(f"export must end in .npz, got {str(export)!r}")
    if dataset is None:
        dataset = table_dataset(scores)
    if isinstance(dataset, str):
        dataset = DatasetSpec(
            dataset, data_dir=data_dir, label_noise=label_noise, noise_seed=noise_seed, samples=samples
        )
    ds = dataset.load() if isinstance(dataset, DatasetSpec) else dataset
    if ds is None and export is not None:
        raise DataDietError("export needs a dataset (the table has no summary.json naming its dataset)")
    table = read_score_table(scores, dataset=ds)
    labels = table["label"].to_numpy()
    options = strategy_options(strategy, offset=offset, hard_cutoff=hard_cutoff, bins=bins)
    idx = select(
        table["score"].to_numpy(), keep=keep, strategy=strategy, labels=labels, balanced=balanced, seed=seed, **options
    )
    names = list(ds.class_names) if ds is not None else None
    bpe = ds.bytes_per_example if ds is not None else 0
    if out_path.suffix == ".npy":
        atomic_save_npy(out_path, idx)
    else:
        atomic_write_bytes(out_path, ("\n".join(map(str, idx.tolist())) + "\n").encode())
    if export is not None:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            x_train=ds.denormalise(ds.x_train[idx]).numpy(),
            y_train=ds.y_train[idx].numpy(),
            x_test=ds.denormalise(ds.x_test).numpy(),
            y_test=ds.y_test.numpy(),
            kept_index=idx,
            class_names=np.array(ds.class_names),
        )
        atomic_write_bytes(export, buf.getvalue())
    return {
        "indices": str(out_path),
        "kept": int(idx.size),
        "total": len(table),
        "strategy": strategy,
        "per_class": kept_per_class(idx, labels, names).to_dict(orient="records"),
        "storage": storage_report(idx, len(table), bpe),
        "bytes_per_example": bpe,
        "export": None if export is None else str(export),
    }

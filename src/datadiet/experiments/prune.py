"""``datadiet prune`` as a function: keep a fraction of a scored training set, write the indices.

Reads a score table (``scores.parquet`` from a scoring job), finds its dataset (given, or named in
the ``summary.json`` beside the table), selects, and writes the kept indices (``.npy`` or ``.txt``)
and optionally the pruned dataset (``.npz``), each atomically.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from datadiet.data.dataset import Dataset
from datadiet.data.export import export_source, source_of
from datadiet.data.groups import apply_grouping
from datadiet.data.lazy import LazyRows
from datadiet.data.split import validation_info
from datadiet.defaults import DEFAULT_CCS_BINS
from datadiet.engine import DatasetSpec
from datadiet.errors import DataDietError
from datadiet.runs import atomic_save_npy, atomic_write_bytes, atomic_write_json, read_json
from datadiet.selection import kept_per_class, select, storage_report, strategy_options
from datadiet.stages.score import UNVERIFIED_HINT, read_score_table, table_provenance
from datadiet.validation import check_choice, check_fraction

BALANCED_BY = ("class", "group")
KEPT = "kept"  # an index file lists the examples KEPT, never the pruned ones


def sidecar_path(indices: str | Path) -> Path:
    """``kept.npy`` -> ``kept.npy.json``: what an index file is."""
    return Path(f"{indices}.json")


def kept_sidecar(
    scores: str | Path,
    idx,
    *,
    total: int,
    dataset,
    strategy: str,
    options: dict,
    keep,
    seed: int,
    balanced,
) -> dict:
    """What an index file is: kept (not pruned) indices, how many of how many, the score table and
    its run key, method and when it scored, the selection, and the dataset's name and fingerprint."""
    scores = Path(scores)
    summary = read_json(scores.parent / "summary.json") if (scores.parent / "summary.json").exists() else {}
    return {
        "indices": KEPT,
        "meaning": "indices of the training examples to KEEP (the others are pruned), 0-based rows of the training "
        "set (with a validation part: rows of the training set before the split, the examples' stable indices)",
        "count": int(len(idx)),
        "total": int(total),
        "kept_fraction": float(len(idx) / total) if total else 0.0,
        "pruned_fraction": float(1 - len(idx) / total) if total else 0.0,
        "scores": str(scores.resolve()),
        "score_run": scores.parent.name,
        "method": summary.get("method"),
        "scored_at": summary.get("scored_at"),
        "strategy": strategy,
        "strategy_options": options,
        "keep": keep,
        "seed": seed,
        "balanced_by": balanced,
        "dataset": None if dataset is None else {"name": dataset.name, "fingerprint": dataset.fingerprint},
        "table_verified": table_provenance(scores) is not None,  # else taken unverified: no dataset recorded
    }


def read_kept(path: str | Path, dataset=None) -> np.ndarray:
    """The kept indices of an index file written by :func:`prune`, checked against its sidecar: the
    file must list kept examples and, given ``dataset``, have been made on that dataset."""
    path = Path(path)
    side = sidecar_path(path)
    if not path.exists():
        raise DataDietError(f"index file not found: {path}")
    if not side.exists():
        raise DataDietError(f"{path} has no sidecar {side.name} saying what it lists; make it with datadiet prune")
    meta = read_json(side)
    if meta.get("indices") != KEPT:
        raise DataDietError(f"{path} does not list kept examples (sidecar says {meta.get('indices')!r})")
    try:
        idx = np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (OSError, ValueError) as e:
        raise DataDietError(f"cannot read index file {path}: {type(e).__name__}") from None
    if len(idx) != meta.get("count"):
        raise DataDietError(f"{path} holds {len(idx)} indices but its sidecar says {meta.get('count')}")
    made_on = meta.get("dataset") or {}
    if dataset is not None and made_on.get("fingerprint") not in (None, dataset.fingerprint):
        raise DataDietError(
            f"{path} was made on dataset {made_on.get('name')!r} (fingerprint {made_on.get('fingerprint')}), "
            f"not on {dataset.name!r} (fingerprint {dataset.fingerprint}); refusing to apply it"
        )
    if dataset is not None and meta.get("total") != dataset.num_train:
        raise DataDietError(f"{path} indexes {meta.get('total')} examples, the dataset has {dataset.num_train}")
    return idx.astype(np.int64) if dataset is None else rows_of(dataset, idx, path)


def rows_of(dataset: Dataset, stable, what) -> np.ndarray:
    """The training rows of examples named by their stable indices (``dataset.index``: the same
    numbers without a validation part); an index of no training example (held out for validation,
    or out of range) is refused."""
    stable = np.asarray(stable, dtype=np.int64)
    index = dataset.index
    rows = np.minimum(np.searchsorted(index, stable), max(index.size - 1, 0))
    bad = stable[index[rows] != stable] if index.size else stable
    if bad.size:
        raise DataDietError(
            f"{what} names example {int(bad[0])}, which is not in {dataset.name!r}'s training set "
            "(out of range, or held out for validation)"
        )
    return rows.astype(np.int64)


def export_folder(ds, idx, dest: str | Path) -> Path:
    """A folder dataset's kept examples as a folder again: ``DEST/train/<class>/<file>`` for each kept
    training image, ``DEST/test/`` as it was, and ``DEST/kept.csv`` listing each kept example's index,
    file and label (``idx`` are training rows; kept.csv gives their stable indices). Files are hard-linked where possible (no copy), else copied. Written to a
    temporary folder and renamed into place, so an interrupted export leaves nothing half-written."""
    src, dest = Path(ds.source_dir), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))

    def place(rel: str) -> None:
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src / rel, target)
        except OSError:
            shutil.copy2(src / rel, target)

    try:
        for i in idx:
            place(ds.files_train[int(i)])
        for f in sorted((src / "test").rglob("*")):
            if f.is_file():
                place(str(f.relative_to(src)))
        labels, stable = ds.y_train.numpy(), ds.index
        rows = [f"{int(stable[i])},{ds.files_train[int(i)]},{ds.class_names[labels[int(i)]]}" for i in idx]
        (tmp / "kept.csv").write_text("index,file,label\n" + "\n".join(rows) + "\n")
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def table_dataset(scores: str | Path) -> str | None:
    """The dataset name a score table was computed on (from ``summary.json`` beside it), if known."""
    summary_path = Path(scores).parent / "summary.json"
    if not summary_path.exists():
        return None
    return (read_json(summary_path).get("dataset") or {}).get("name")


def _table_data(scores, dataset, options: dict, groups: str | None) -> Dataset | None:
    """The dataset a score table is checked against: given (a name with its ``options``, a spec or a
    dataset), else the one named beside the table, with the validation split recorded there unless
    ``options`` ask for one; with ``groups`` applied."""
    if dataset is None:
        dataset = table_dataset(scores)
        recorded = (table_provenance(scores) or {}).get("validation")
        if dataset is not None and recorded and not options.get("val_fraction"):
            options = {**options, "val_fraction": recorded["fraction"], "val_seed": recorded["seed"]}
    if isinstance(dataset, str):
        dataset = DatasetSpec(dataset, **options)
    ds = dataset.load() if isinstance(dataset, DatasetSpec) else dataset
    if ds is not None and groups is not None:
        ds = apply_grouping(ds, groups)
    return ds


def _check_export(export, ds: Dataset | None, balanced_by: str) -> None:
    """Refuse an export path of the wrong kind, and what needs a dataset without one, before any work."""
    if export is not None and ds is not None and source_of(ds.name) is not None:
        if str(export).endswith(".npz") or Path(export).exists():
            raise DataDietError(
                f"a {ds.name.split(':', 1)[0]}:DIR dataset exports to a new folder in its own format (kept rows, test "
                f"data, kept.csv), got export={str(export)!r}"
            )
    elif export is not None and ds is not None and ds.files_train:
        if str(export).endswith(".npz") or Path(export).exists():
            raise DataDietError(
                f"a folder of images exports to a new folder (kept images, test images, kept.csv), got {str(export)!r}"
            )
    elif export is not None and not str(export).endswith(".npz"):
        raise DataDietError(f"export must end in .npz, got {str(export)!r}")
    elif export is not None and ds is not None and isinstance(ds.x_train, LazyRows):
        raise DataDietError(
            f"dataset {ds.name!r} is read lazily and has no export format of its own; an .npz export would hold "
            f"every kept input in memory: export={str(export)!r} is refused (use the kept indices file)"
        )
    if ds is None and (export is not None or balanced_by == "group"):
        what = "export" if export is not None else "balanced_by='group'"
        raise DataDietError(f"{what} needs a dataset (the table has no summary.json naming its dataset)")


def _read_table(scores, ds: Dataset | None, unverified: bool):
    """The score table, checked against ``ds``; one that records no dataset only ``unverified``."""
    table = read_score_table(scores, dataset=ds, unverified=unverified)  # a missing or corrupt file first
    if ds is None and not unverified:
        raise DataDietError(
            f"score table {scores} records no dataset (no summary.json beside it); name it with --dataset, and "
            f"pass {UNVERIFIED_HINT} to use the table with only its length and labels checked"
        )
    return table


def _groups(ds: Dataset) -> np.ndarray:
    if ds.g_train is None:
        raise DataDietError(
            f"balanced_by='group' needs groups: dataset {ds.name!r} has none (give g_train/g_test in the npz "
            "or a grouping, e.g. groups='brightness')"
        )
    return ds.g_train


def _kept_per_group(idx: np.ndarray, ds: Dataset | None) -> list[dict] | None:
    """What was kept of each group, as :func:`kept_per_class` counts classes (``group`` for ``class``)."""
    if ds is None or ds.g_train is None:
        return None
    table = kept_per_class(idx, ds.g_train, list(ds.group_names)).rename(columns={"class": "group"})
    return table.to_dict(orient="records")


def _write_indices(path: Path, idx: np.ndarray) -> None:
    if path.suffix == ".npy":
        atomic_save_npy(path, idx)
    else:
        atomic_write_bytes(path, ("\n".join(map(str, idx.tolist())) + "\n").encode())


def export_npz(ds: Dataset, idx: np.ndarray, dest: str | Path) -> None:
    """The kept training examples (and the whole test set) as an npz that ``npz:PATH`` reads back.
    ``idx`` are training rows; ``kept_index`` holds their stable indices (the same numbers without a
    validation part). A validation part is not exported: it is neither kept nor test data."""
    buf = io.BytesIO()
    groups = {}
    if ds.g_train is not None:
        groups = {"g_train": ds.g_train[idx], "g_test": ds.g_test, "group_names": np.array(ds.group_names)}
    np.savez_compressed(
        buf,
        x_train=ds.denormalise(ds.x_train[idx]).numpy(),
        y_train=ds.y_train[idx].numpy(),
        x_test=ds.denormalise(ds.x_test).numpy(),
        y_test=ds.y_test.numpy(),
        kept_index=ds.index[idx],
        class_names=np.array(ds.class_names),
        **groups,
    )
    atomic_write_bytes(dest, buf.getvalue())


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
    val_fraction: float = 0.0,
    val_seed: int = 0,
    test_samples: int | None = None,
    export: str | Path | None = None,
    balanced_by: str = "class",
    groups: str | None = None,
    unverified: bool = False,
) -> dict:
    """Keep ``keep`` of the table's examples by ``strategy``; returns what was kept (per class, and
    per group when the data has groups, else ``per_group`` None) and the storage saved. ``dataset`` (a name, spec or dataset; default: the one named beside the table)
    checks the table's labels and gives class names, bytes per example and the ``export``.
    ``balanced`` keeps every class's share (``balanced_by="class"``) or every group's
    (``balanced_by="group"``: the data's ``g_train``, or the ``groups`` grouping).

    A table that records no dataset (no ``summary.json`` beside it) is used only ``unverified``;
    one made on another dataset is refused (:func:`~datadiet.stages.score.check_provenance`).

    The index file lists the kept examples' stable indices (``dataset.index``: rows before a validation
    split). A table scored with a validation part needs the same ``val_fraction``/``val_seed`` here.

    Beside the indices, ``OUT.json`` says what they are (see :func:`kept_sidecar`).

    ``export`` writes the pruned dataset: an ``.npz``; for ``folder:PATH`` a new folder of the kept
    images; for ``npy:DIR`` and ``parquet:DIR`` a new folder in that format with the source's own
    rows and labels (:func:`datadiet.data.export.export_source`), whose sizes on disk
    ``export_storage`` gives (``bytes_kept``, ``bytes_saved``; None for other exports)."""
    keep = check_fraction("keep", keep)
    out_path = Path(out)
    if out_path.suffix not in (".npy", ".txt"):
        raise DataDietError(f"out must end in .npy or .txt, got {str(out)!r}")

    check_choice("balanced_by", balanced_by, BALANCED_BY)
    data = dict(data_dir=data_dir, label_noise=label_noise, noise_seed=noise_seed, samples=samples, val_seed=val_seed)
    ds = _table_data(scores, dataset, {**data, "val_fraction": val_fraction, "test_samples": test_samples}, groups)
    _check_export(export, ds, balanced_by)
    table = _read_table(scores, ds, unverified)
    labels = table["label"].to_numpy()
    strata = labels
    if balanced_by == "group":
        strata, balanced = _groups(ds), True
    options = strategy_options(strategy, offset=offset, hard_cutoff=hard_cutoff, bins=bins)
    idx = select(
        table["score"].to_numpy(), keep=keep, strategy=strategy, labels=strata, balanced=balanced, seed=seed, **options
    )
    kept = table["index"].to_numpy().astype(np.int64)[idx]  # the kept examples' stable indices
    _write_indices(out_path, kept)
    sidecar = kept_sidecar(
        scores,
        kept,
        total=len(table),
        dataset=ds,
        strategy=strategy,
        options=options,
        keep=keep,
        seed=seed,
        balanced=(balanced_by if balanced else None),
    )
    atomic_write_json(sidecar_path(out_path), sidecar)
    on_disk = None
    if export is not None and source_of(ds.name) is not None:
        on_disk = export_source(source_of(ds.name), ds.index[idx], export)
    elif export is not None:
        (export_folder if ds.files_train else export_npz)(ds, idx, export)
    return {"strategy": strategy, **_outcome(out_path, idx, labels, ds, export), "export_storage": on_disk}


def _outcome(out_path: Path, idx: np.ndarray, labels: np.ndarray, ds: Dataset | None, export) -> dict:
    """What :func:`prune` returns about the kept rows ``idx`` of a table with ``labels``."""
    names = list(ds.class_names) if ds is not None else None
    bpe = ds.bytes_per_example if ds is not None else 0
    validation = None if ds is None else validation_info(ds)
    return {
        "indices": str(out_path),
        "sidecar": str(sidecar_path(out_path)),
        "kept": int(idx.size),
        "total": len(labels),
        "per_class": kept_per_class(idx, labels, names).to_dict(orient="records"),
        "per_group": _kept_per_group(idx, ds),
        "storage": storage_report(idx, len(labels), bpe),
        "bytes_per_example": bpe,
        "export": None if export is None else str(export),
        **({"validation": validation} if validation is not None else {}),
    }

"""The diet on disk: a lazy source's kept training examples written in the source's own format.

``npy:DIR`` -> a new folder with ``x_train.npy``/``y_train.npy`` (the kept rows, in the order given,
bytes as stored), the test arrays and ``class_names.txt`` as they were, and ``kept.csv``
(``index,label``: each exported row's stable index in the source). ``parquet:DIR`` -> a new folder
of ``train-NNNNN.parquet`` shards holding the kept rows (every column, images not re-encoded), the
test shards as they were, and ``kept.csv``. Rows are copied chunk by chunk; unchanged files are
hard-linked where possible, else copied. Written to a temporary folder renamed into place, so an
interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from datadiet.data.shards import ParquetSource
from datadiet.data.sources import NpySource
from datadiet.errors import DataDietError

ROWS_PER_SHARD = 10_000  # rows in each exported Parquet shard (the last one may hold fewer)


def source_of(name: str):
    """The lazy source a dataset name reads (``npy:DIR``, ``parquet:DIR``), or None for others."""
    for prefix, cls in (("npy:", NpySource), ("parquet:", ParquetSource)):
        if isinstance(name, str) and name.startswith(prefix):
            return cls(name[len(prefix) :], name=name)
    return None


def _place(src: Path, target: Path) -> None:
    try:
        os.link(src, target)
    except OSError:
        shutil.copy2(src, target)


def _sizes(files) -> int:
    return int(sum(Path(f).stat().st_size for f in files))


def _write_npy(source: NpySource, stable: np.ndarray, tmp: Path) -> list[Path]:
    x, y = source.arrays_["x_train"], source.arrays_["y_train"]
    out = np.lib.format.open_memmap(tmp / "x_train.npy", mode="w+", dtype=x.dtype, shape=(stable.size, *x.shape[1:]))
    step = source.chunk_rows
    for i in range(0, stable.size, step):
        out[i : i + step] = x[stable[i : i + step]]
    out.flush()
    del out
    np.save(tmp / "y_train.npy", np.asarray(y[stable]))
    for name in ("x_test.npy", "y_test.npy", "class_names.txt"):
        if (source.directory / name).is_file():
            _place(source.directory / name, tmp / name)
    return [tmp / "x_train.npy", tmp / "y_train.npy"]


def _write_parquet(source: ParquetSource, stable: np.ndarray, tmp: Path, rows_per_shard: int) -> list[Path]:
    import pyarrow.parquet as pq

    written = []
    for k, i in enumerate(range(0, max(stable.size, 1), rows_per_shard)):
        path = tmp / f"train-{k:05d}.parquet"
        pq.write_table(source.take_table("train", stable[i : i + rows_per_shard], columns=None), path)
        written.append(path)
    for f in source.files("test"):
        _place(f, tmp / f.name)
    if (source.directory / "class_names.txt").is_file():
        _place(source.directory / "class_names.txt", tmp / "class_names.txt")
    return written


def export_source(source, stable, dest, *, rows_per_shard: int = ROWS_PER_SHARD) -> dict:
    """Write ``source``'s training examples ``stable`` (stable indices, in that order) and its whole
    test set to the new folder ``dest`` in the source's format; returns the bytes the kept training
    files take (``bytes_kept``) and how many fewer than the source's (``bytes_saved``)."""
    dest = Path(dest)
    if dest.exists():
        raise DataDietError(f"export must be a new folder, got {str(dest)!r} (it exists)")
    stable = source._indices(stable, "train")
    labels = np.asarray(source.arrays_["y_train"][stable]) if isinstance(source, NpySource) else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        if isinstance(source, NpySource):
            kept = _write_npy(source, stable, tmp)
        else:
            kept = _write_parquet(source, stable, tmp, rows_per_shard)
            labels = source.take_table("train", stable, columns=("label",)).column("label").to_numpy()
        rows = (f"{int(i)},{int(v)}" for i, v in zip(stable, labels))
        (tmp / "kept.csv").write_text("index,label\n" + "".join(r + "\n" for r in rows))
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    bytes_kept = _sizes(dest / f.name for f in kept)
    return {
        "path": str(dest),
        "format": source.name.split(":", 1)[0],
        "bytes_kept": bytes_kept,
        "bytes_saved": _sizes(source.files("train")) - bytes_kept,
    }

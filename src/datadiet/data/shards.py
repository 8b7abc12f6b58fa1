"""Lazy sources of encoded images: Parquet shards (``parquet:DIR``) and image folders (``folder:PATH``).

``parquet:DIR`` layout: the training set is ``DIR/train-*.parquet``, the test set ``DIR/test-*.parquet``,
shards taken in file-name order (so name them with zero-padded numbers, e.g. ``train-00000.parquet``)
and rows in file order: example ``i`` is the ``i``-th row of the shards put end to end. Each shard has
a column ``image`` holding one encoded image per row (PNG or any format Pillow reads; raw bytes, or a
struct with a ``bytes`` field as Hugging Face ``datasets`` writes) and an integer column ``label``
(class index, >= 0); other columns are kept by an export but not read. ``DIR/class_names.txt`` (one
name per line, optional) names the classes. Greyscale images (mode ``L``) give (N, H, W) uint8
inputs, others are converted to RGB, (N, H, W, 3); every image must have the size and mode of the
first training image. Inputs are scaled by 255. A shard is read one row group at a time.

``folder:PATH`` as :func:`datadiet.data.loaders.load_image_folder` reads it (``PATH/train/<class>/*``,
``PATH/test/<class>/*``), one file at a time.
"""

from __future__ import annotations

import dataclasses
import io
from functools import cached_property
from pathlib import Path

import numpy as np

from datadiet.data.dataset import Dataset, _one_line
from datadiet.data.loaders import list_image_split, read_rgb
from datadiet.data.sources import PARTS, LazySource, read_class_names
from datadiet.errors import DataDietError


def decode_image(data, where: str) -> np.ndarray:
    """Encoded image bytes as (H, W) uint8 (greyscale) or (H, W, 3) (anything else, as RGB)."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(data, dict):
        data = data.get("bytes")
    if not isinstance(data, (bytes, bytearray)):
        raise DataDietError(f"{where}: image must be encoded bytes, got {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("L" if im.mode in ("L", "1") else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataDietError(f"{where}: cannot decode image: {_one_line(e)}") from None


class ParquetSource(LazySource):
    """``parquet:DIR``: shards of encoded images and labels, read one row group at a time. ``reads``
    counts the row groups read."""

    scale = 255.0

    def __init__(self, directory, *, name: str | None = None, chunk_rows=None, mean=None, std=None) -> None:
        super().__init__(chunk_rows=chunk_rows, mean=mean, std=std)
        import pyarrow.parquet as pq

        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise DataDietError(f"parquet dataset folder not found: {self.directory}")
        self.name = name or f"parquet:{directory}"
        self.class_names_given = read_class_names(self.directory / "class_names.txt")
        self.reads = 0
        self.shards, self.groups = {}, {}
        for part in PARTS:
            self.shards[part] = sorted(self.directory.glob(f"{part}-*.parquet"))
            if not self.shards[part]:
                raise DataDietError(f"no {part}-*.parquet shards in {self.directory}")
            self.groups[part] = []  # (shard, row group, first row, rows) in order
            start = 0
            for s, path in enumerate(self.shards[part]):
                try:
                    shard = pq.ParquetFile(path)
                    meta, names = shard.metadata, set(shard.schema_arrow.names)
                except Exception as e:
                    raise DataDietError(f"corrupt parquet shard {path}: {_one_line(e)}") from None
                missing = sorted({"image", "label"} - names)
                if missing:
                    raise DataDietError(
                        f"parquet shard {path} lacks column(s) {', '.join(missing)} (needs image, label)"
                    )
                for g in range(meta.num_row_groups):
                    rows = meta.row_group(g).num_rows
                    self.groups[part].append((s, g, start, rows))
                    start += rows

    def what(self, part: str) -> str:
        return str(self.directory / f"{part}-*.parquet")

    def files(self, part: str) -> list[Path]:
        return list(self.shards[part])

    def read_group(self, part: str, k: int, columns=("image", "label")):
        """Row group ``k`` of ``part`` (numbered across shards) as an Arrow table."""
        import pyarrow.parquet as pq

        s, g, _, _ = self.groups[part][k]
        path = self.shards[part][s]
        self.reads += 1
        try:
            return pq.ParquetFile(path).read_row_group(g, columns=None if columns is None else list(columns))
        except FileNotFoundError:
            raise DataDietError(f"parquet shard not found: {path}") from None
        except Exception as e:
            raise DataDietError(f"corrupt parquet shard {path}: {_one_line(e)}") from None

    def _decode(self, part: str, table, first, shape=None) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``table`` decoded; ``first``: the row number of its first row (an int) or of each row."""
        images = table.column("image").to_pylist()
        rows = np.arange(len(images)) + first if np.isscalar(first) else np.asarray(first)
        x = [decode_image(b, f"{self.what(part)} row {rows[i]}") for i, b in enumerate(images)]
        shape = shape or (x[0].shape if x else ())
        for i, a in enumerate(x):
            if a.shape != shape:
                raise DataDietError(
                    f"{self.what(part)} row {rows[i]}: image of shape {a.shape}, the first training image {shape}: "
                    "mixed image sizes or modes; resize them"
                )
        labels = table.column("label")
        if labels.null_count:
            raise DataDietError(f"{self.what(part)}: label column has {labels.null_count} missing value(s)")
        return (np.stack(x) if x else np.empty((0,), np.uint8)), labels.to_numpy()

    @cached_property
    def _meta(self) -> dict:
        out = {}
        for part in PARTS:
            n = sum(rows for *_, rows in self.groups[part])
            k = next((k for k, g in enumerate(self.groups["train"]) if g[3]), None)
            if k is None:
                raise DataDietError(f"{self.what('train')} holds no rows")
            x, _ = self._decode("train", self.read_group("train", k).slice(0, 1), 0)
            out[part] = (n, x.dtype, tuple(x.shape[1:]))
        return out

    def raw_meta(self, part):
        return self._meta[part]

    def chunks(self, part: str = "train"):
        for k, (_, _, first, rows) in enumerate(self.groups[part]):
            if rows:
                x, y = self._decode(part, self.read_group(part, k), first, self.raw_meta(part)[2])
                yield first, x, y

    def take_table(self, part: str, indices, columns=("image", "label")):
        """Rows ``indices`` of ``part`` as an Arrow table, in that order (each row group read once)."""
        import pyarrow as pa

        idx = np.asarray(indices, dtype=np.int64)
        starts = np.asarray([g[2] for g in self.groups[part]], dtype=np.int64)
        sizes = np.asarray([g[3] for g in self.groups[part]], dtype=np.int64)
        which = np.searchsorted(starts + sizes, idx, side="right")
        order = np.argsort(which, kind="stable")
        pieces = []
        for k in np.unique(which):
            sel = order[which[order] == k]
            pieces.append(self.read_group(part, int(k), columns).take(pa.array(idx[sel] - starts[k])))
        if not pieces:
            return self.read_group(part, 0, columns).slice(0, 0)
        try:
            table = pa.concat_tables(pieces)
        except Exception as e:
            raise DataDietError(f"{self.what(part)}: shards differ in schema: {_one_line(e)}") from None
        back = np.empty(idx.size, dtype=np.int64)
        back[np.concatenate([order[which[order] == k] for k in np.unique(which)])] = np.arange(idx.size)
        return table.take(pa.array(back))

    def raw_take(self, part, indices):
        return self._decode(part, self.take_table(part, indices), indices, self.raw_meta(part)[2])

    def labels(self, part: str = "train") -> np.ndarray:
        """Every label of ``part``, read from the label column alone (no image decoded)."""
        parts = []
        for k, (*_, rows) in enumerate(self.groups[part]):
            if rows:
                column = self.read_group(part, k, ("label",)).column("label")
                if column.null_count:
                    raise DataDietError(f"{self.what(part)}: label column has {column.null_count} missing value(s)")
                parts.append(column.to_numpy())
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    def _label_bytes(self) -> int:
        return int(self.labels("train")[:1].itemsize)


class FolderSource(LazySource):
    """``folder:PATH`` read one image file at a time (the same examples, order and fingerprint as
    :func:`datadiet.data.loaders.load_image_folder`). Greyscale when every image is: finding that out
    reads every image once (cached)."""

    scale = 255.0

    def __init__(self, path, *, name: str | None = None, chunk_rows=None, mean=None, std=None) -> None:
        super().__init__(chunk_rows=chunk_rows, mean=mean, std=std)
        self.root = Path(path)
        if not self.root.is_dir():
            raise DataDietError(f"image folder not found: {self.root}")
        self.name = name or f"folder:{path}"
        paths, labels, classes = list_image_split(self.root, "train", None)
        self.paths, self.labels_ = {"train": paths}, {"train": np.asarray(labels, dtype=np.int64)}
        paths, labels, _ = list_image_split(self.root, "test", classes)
        self.paths["test"], self.labels_["test"] = paths, np.asarray(labels, dtype=np.int64)
        self.class_names_given = tuple(classes)

    def what(self, part: str) -> str:
        return str(self.root / part)

    def files(self, part: str) -> list[Path]:
        return list(self.paths[part])

    @cached_property
    def _grey(self) -> tuple[bool, tuple[int, ...]]:
        grey, shape = True, None
        for part in PARTS:
            for f in self.paths[part]:
                a = read_rgb(f)
                if shape is not None and a.shape != shape:
                    raise DataDietError(
                        f"images in {self.root / part} differ in size ({shape}, {a.shape} at {f}); resize them"
                    )
                shape = a.shape
                grey = grey and bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())
        return grey, shape[:2] if grey else shape

    def raw_meta(self, part):
        return len(self.paths[part]), np.dtype(np.uint8), self._grey[1]

    def raw_take(self, part, indices):
        grey, shape = self._grey
        x = np.empty((len(indices), *shape), dtype=np.uint8)
        for j, i in enumerate(indices):
            a = read_rgb(self.paths[part][int(i)])
            if a.shape[:2] != shape[:2]:
                raise DataDietError(f"image {self.paths[part][int(i)]} has size {a.shape[:2]}, the others {shape[:2]}")
            x[j] = a[..., 0] if grey else a
        return x, self.labels_[part][np.asarray(indices, dtype=np.int64)]

    def labels(self, part: str = "train") -> np.ndarray:
        return self.labels_[part].copy()

    def _label_bytes(self) -> int:
        return int(self.labels_["train"].itemsize)

    def _with_files(self, ds: Dataset) -> Dataset:
        files = tuple(str(f.relative_to(self.root)) for f in self.paths["train"])
        return dataclasses.replace(ds, files_train=files, source_dir=str(self.root.resolve()))

    def to_dataset(self) -> Dataset:
        return self._with_files(super().to_dataset())

    def to_lazy_dataset(self) -> Dataset:
        return self._with_files(super().to_lazy_dataset())

"""A lazy source over Hugging Face ``datasets.Dataset`` objects (a train and a test split).

Example ``i`` of a part is row ``i`` of its Dataset (its stable index). Rows are read a batch at a
time (``ds[indices]``, ``ds[start:stop]``), never a whole column, so a Dataset memory-mapped from
Arrow files on disk (``load_from_disk``, ``from_parquet``) is never loaded whole. The image column
may hold

* an ``Image`` feature (decoded or ``decode=False``), a plain ``{bytes, path}`` struct or a binary
  column of encoded images: the stored bytes (or the file at ``path``) are read
  through Arrow and decoded here, as ``parquet:DIR`` does (greyscale stays (H, W), anything else
  becomes RGB (H, W, 3), or the feature's ``mode`` if it is ``L`` or ``RGB``); scaled by 255;
* numbers: ``Array2D``/``Array3D``/... or (nested) ``Sequence``/``List`` features of one numeric
  type, read as numpy arrays of that type (uint8 scaled by 255, as ``npy:DIR``).

Every example must have the shape of training row 0. Labels are read as int64; a ``ClassLabel``
label feature names the classes (unless ``class_names`` is given). The Dataset's own format and
transforms (``set_format``, ``set_transform``) are bypassed: the source reads the stored values.
``datasets`` is an optional dependency (``pip install 'datadiet[hf]'``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from datadiet.data.dataset import _one_line
from datadiet.data.shards import decode_image
from datadiet.data.sources import PARTS, LazySource, uint8_scale
from datadiet.errors import DataDietError

IMAGE_MODES = ("L", "RGB")
BINARY = ("binary", "large_binary")
ARRAY_FEATURES = ("Array2D", "Array3D", "Array4D", "Array5D", "Sequence", "List", "LargeList")


def _datasets_module():
    try:
        import datasets
    except ImportError:
        raise DataDietError(
            "reading a Hugging Face Dataset needs the datasets package: pip install 'datadiet[hf]'"
        ) from None
    return datasets


def _leaf_dtype(feature, what: str) -> np.dtype:
    """The numeric type of an array feature's values."""
    f = feature
    while not hasattr(f, "dtype") and hasattr(f, "feature"):
        f = f.feature
    try:
        dtype = np.dtype(getattr(f, "dtype", None))
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "iuf":
        raise DataDietError(f"{what}: feature {feature} must hold numbers (ints or floats)")
    return dtype


def _decode_mode(cell, where: str, mode: str | None) -> np.ndarray:
    """One stored image (``{bytes, path}``) as uint8 (H, W) or (H, W, 3), or converted to ``mode``."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(cell, (bytes, bytearray)):
        cell = {"bytes": cell}
    if not isinstance(cell, dict) or (cell.get("bytes") is None and not cell.get("path")):
        raise DataDietError(f"{where}: no image (got {type(cell).__name__} {cell!r:.60})")
    data = cell.get("bytes")
    if data is None:
        path = Path(cell["path"])
        if not path.is_file():
            raise DataDietError(f"{where}: image file not found: {path}")
        data = path.read_bytes()
    if mode is None:
        return decode_image(data, where)
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert(mode))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataDietError(f"{where}: cannot decode image: {_one_line(e)}") from None


class HFSource(LazySource):
    """Two Hugging Face ``datasets.Dataset`` objects (train, test), read a batch of rows at a time."""

    def __init__(
        self,
        train,
        test,
        *,
        image_column: str = "image",
        label_column: str = "label",
        name: str = "hf",
        class_names=None,
        chunk_rows=None,
        mean=None,
        std=None,
    ) -> None:
        super().__init__(chunk_rows=chunk_rows, mean=mean, std=std)
        datasets = _datasets_module()
        self.name, self.image_column, self.label_column = name, image_column, label_column
        self.data, self.kind, self.dtypes = {}, {}, {}
        names = {}
        for part, ds in (("train", train), ("test", test)):
            if isinstance(ds, datasets.DatasetDict):
                raise DataDietError(f"{part} is a DatasetDict; pass its splits, e.g. ds['train'] and ds['test']")
            if not isinstance(ds, datasets.Dataset):
                raise DataDietError(f"{part} must be a datasets.Dataset (map-style), got {type(ds).__name__}")
            missing = [c for c in (image_column, label_column) if c not in ds.column_names]
            if missing:
                raise DataDietError(
                    f"{self.what(part)} lacks column(s) {', '.join(missing)} "
                    f"(image_column={image_column!r}, label_column={label_column!r}; it has {', '.join(ds.column_names)})"
                )
            self._set_part(part, ds)
            label = ds.features[label_column]
            names[part] = tuple(label.names) if type(label).__name__ == "ClassLabel" else None
        if class_names is not None:
            if isinstance(class_names, (str, bytes)) or not hasattr(class_names, "__iter__"):
                raise DataDietError(f"class_names must be a sequence of names, got {class_names!r}")
            self.class_names_given = tuple(str(c) for c in class_names)
        elif names["train"] is not None:
            if names["test"] is not None and names["test"] != names["train"]:
                raise DataDietError(
                    f"{self.what('test')}: ClassLabel names {names['test']} differ from train's {names['train']}"
                )
            self.class_names_given = names["train"]
        self._meta = None

    def _set_part(self, part: str, ds) -> None:
        """The formatted views of one split: its images or arrays, and its labels (Arrow)."""
        feature = ds.features[self.image_column]
        kind = type(feature).__name__
        where = f"{self.what(part)} column {self.image_column!r}"
        encoded = (isinstance(feature, dict) and "bytes" in feature) or getattr(feature, "dtype", None) in BINARY
        if kind == "Image" or encoded:
            mode = getattr(feature, "mode", None)
            if mode is not None and mode not in IMAGE_MODES:
                raise DataDietError(f"{where}: Image mode {mode!r} is not read; use L, RGB or None")
            self.kind[part], self.dtypes[part] = mode or "image", np.dtype(np.uint8)
            x = ds.select_columns([self.image_column]).with_format("arrow")
        elif kind in ARRAY_FEATURES:
            self.kind[part], self.dtypes[part] = "array", _leaf_dtype(feature, where)
            x = ds.select_columns([self.image_column]).with_format("numpy", dtype=self.dtypes[part])
        else:
            raise DataDietError(
                f"{where} has feature {feature}; an Image, an ArrayND or a (nested) Sequence of numbers is read"
            )
        if part == "test" and (self.kind[part] == "array") != (self.kind["train"] == "array"):
            raise DataDietError(f"{where} holds {kind}, the training column {self.kind['train']}")
        self.data[part] = (x, ds.select_columns([self.label_column]).with_format("arrow"), len(ds))

    @property
    def scale(self) -> float | None:
        return uint8_scale(self.dtypes["train"]) if self.kind["train"] == "array" else 255.0

    def what(self, part: str) -> str:
        return f"{self.name} {part}"

    def _fetch(self, part: str, key, rows: np.ndarray, shape=None) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``key`` (a slice or a list of row numbers ``rows``) of ``part``: raw inputs, labels."""
        xs, ys, _ = self.data[part]
        what = self.what(part)
        try:
            x = xs[key]
            y = ys[key].column(self.label_column)
        except DataDietError:
            raise
        except Exception as e:
            raise DataDietError(f"{what}: cannot read rows: {_one_line(e)}") from None
        if self.kind[part] == "array":
            x = x[self.image_column]
            cells = list(x) if x.dtype == object else None
        else:
            mode = None if self.kind[part] == "image" else self.kind[part]
            cells = [_decode_mode(c, f"{what} row {r}", mode) for c, r in zip(x.column(0).to_pylist(), rows)]
        if cells is not None:
            x = self._stack(part, cells, rows, shape)
        elif shape is not None and x.shape[1:] != shape:
            raise DataDietError(f"{what}: examples of shape {x.shape[1:]}, the first training example {shape}")
        if y.null_count:
            raise DataDietError(f"{what}: label column {self.label_column!r} has {y.null_count} missing value(s)")
        y = y.to_numpy()
        return x, (y.astype(np.int64) if y.dtype.kind in "iu" else y)

    def _stack(self, part: str, cells, rows, shape) -> np.ndarray:
        dtype = self.dtypes[part]
        cells = [np.asarray(c, dtype=dtype) if not isinstance(c, np.ndarray) else c for c in cells]
        shape = shape if shape is not None else (cells[0].shape if cells else ())
        for c, r in zip(cells, rows):
            if c.shape != shape or c.ndim == 0:
                raise DataDietError(
                    f"{self.what(part)} row {r}: example of shape {c.shape}, the first training example {shape}: "
                    "mixed sizes; resize them"
                )
        return np.stack(cells) if cells else np.empty((0, *shape), dtype)

    def raw_meta(self, part):
        if self._meta is None:
            if self.data["train"][2] == 0:
                raise DataDietError(f"{self.what('train')} holds no rows")
            x, _ = self._fetch("train", slice(0, 1), np.arange(1))
            if x.ndim < 2:
                raise DataDietError(f"{self.what('train')}: one number per row; each example must be an array")
            self._meta = {p: (self.data[p][2], self.dtypes[p], tuple(x.shape[1:])) for p in PARTS}
        return self._meta[part]

    def raw_rows(self, part, start, stop):
        return self._fetch(part, slice(int(start), int(stop)), np.arange(start, stop), self.raw_meta(part)[2])

    def raw_take(self, part, indices):
        rows = np.asarray(indices, dtype=np.int64).reshape(-1)
        return self._fetch(part, [int(i) for i in rows], rows, self.raw_meta(part)[2])


def from_hf_dataset(train, test, **options) -> HFSource:
    """A lazy source over two Hugging Face ``datasets.Dataset`` splits: nothing but the features is
    read until asked. ``options`` are :class:`HFSource`'s (``image_column="image"``,
    ``label_column="label"``, ``name``, ``class_names``, ``mean``, ``std``, ``chunk_rows``). See
    :mod:`datadiet.data.hf` for what the columns may hold."""
    return HFSource(train, test, **options)


__all__ = ["HFSource", "from_hf_dataset"]

"""Lazy sources: datasets read from disk (or a torch Dataset) row by row, never whole.

A :class:`LazySource` has a train and a test part. Example ``i`` of a part is row ``i`` (the stable
index score tables use). It gives

* ``num_train``/``num_test``, ``input_shape`` (C, ...), ``class_names``;
* ``read(indices, part="train") -> (x, y)``: float32 tensors normalised per channel with the training
  set's mean/std, and int64 labels, for just those rows;
* ``fingerprint``: the hash :func:`~datadiet.data.dataset.fingerprint_arrays` gives the same arrays in
  memory, computed in one streaming pass (chunk by chunk), which also checks every row (labels, sizes,
  values); ``check_fingerprint(expected)`` reads it all again and refuses a changed source;
* ``mean``/``std``: per channel, given or computed by streaming passes bitwise equal to the
  in-memory numbers (:mod:`datadiet.data.streaming`);
* ``to_dataset()``: the in-memory :class:`~datadiet.data.dataset.Dataset`, exactly what
  :func:`~datadiet.data.dataset.from_arrays` makes of the same arrays (same tensors, same fingerprint);
* ``torch_dataset(part)``: a map-style torch Dataset of normalised ``(x, y)`` items.

Sources here: :class:`NpySource` (``npy:DIR``) and :class:`TorchSource` (map-style torch Datasets
from the API); :mod:`datadiet.data.shards` adds Parquet shards and image folders.

``npy:DIR`` layout: ``DIR/x_train.npy``, ``DIR/y_train.npy``, ``DIR/x_test.npy``, ``DIR/y_test.npy``
(plain ``np.save`` files, memory-mapped; x as (N, H, W), (N, H, W, C), (N, C, H, W) or (N, D); y
integer labels) and optionally ``DIR/class_names.txt`` (one name per line). uint8 inputs are scaled
by 255 as ``npz:PATH`` does.
"""

from __future__ import annotations

import mmap
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from datadiet.data.dataset import (
    MAX_CLASSES,
    Dataset,
    _check_label_sets,
    _examples,
    _labels,
    _one_line,
    from_arrays,
)
from datadiet.data.lazy import LazyRows
from datadiet.data.streaming import StreamFingerprint, streaming_mean_std, values_per_channel
from datadiet.errors import DataDietError

PARTS = ("train", "test")
# A streaming pass reads chunks of rows whose values, as float64, take about this many bytes: the passes
# hold a few float32/float64 copies of a chunk at once (scaled, centred, squared), so a chunk sized by
# its raw bytes (1 byte a value for uint8) would cost about 40x its size in memory.
CHUNK_BYTES = 1 << 26
FLOAT64_BYTES = 8
# Rows read at random (training batches) from a memory-mapped file leave their pages mapped into the
# process; once about this many bytes of them may be, they are dropped (see NpySource.raw_take).
RESIDENT_BYTES = 1 << 30


def uint8_scale(dtype) -> float | None:
    """uint8 inputs are scaled by 255 (as ``npz:PATH`` and ``folder:PATH`` do); others as they are."""
    dtype = np.dtype(dtype)
    return 255.0 if dtype.kind == "u" and dtype.itemsize == 1 else None


def read_class_names(path: Path) -> tuple[str, ...] | None:
    """``class_names.txt`` (one name per line) if there is one."""
    if not path.is_file():
        return None
    try:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataDietError(f"cannot read class names {path}: {_one_line(e)}") from None
    if len(names) < 2:
        raise DataDietError(f"class names {path} must list at least 2 classes, got {len(names)}")
    return tuple(names)


class LazySource:
    """A dataset read lazily. Subclasses give ``name``, ``class_names_given`` (or None), ``scale``,
    ``raw_meta(part) -> (n, dtype, example_shape)``, ``raw_rows(part, start, stop)`` and
    ``raw_take(part, indices)`` (raw inputs, labels as stored) and ``what(part)`` (the file or
    parameter named in errors)."""

    name = "source"
    scale: float | None = None
    class_names_given: tuple[str, ...] | None = None

    def __init__(self, *, chunk_rows: int | None = None, mean=None, std=None) -> None:
        self._chunk_rows = chunk_rows
        self._given = None if mean is None else (np.asarray(mean, np.float64), np.asarray(std, np.float64))
        if (mean is None) != (std is None):
            raise DataDietError("give both mean and std, or neither (they are computed)")

    # --- what subclasses give -------------------------------------------------------------
    def raw_meta(self, part: str) -> tuple[int, np.dtype, tuple[int, ...]]:
        raise NotImplementedError

    def raw_rows(self, part: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return self.raw_take(part, np.arange(start, stop))

    def raw_take(self, part: str, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def what(self, part: str) -> str:
        return f"{self.name} {part}"

    # --- shape and size --------------------------------------------------------------------
    @property
    def num_train(self) -> int:
        return self.raw_meta("train")[0]

    @property
    def num_test(self) -> int:
        return self.raw_meta("test")[0]

    def __len__(self) -> int:
        return self.num_train

    @cached_property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example as a model sees it: (C, H, W) or (C, L)."""
        n, dtype, shape = self.raw_meta("train")
        return tuple(_examples(self.what("train"), np.zeros((1, *shape), dtype), None).shape[1:])

    @property
    def channels_last(self) -> bool:
        shape = self.raw_meta("train")[2]
        return len(shape) == 3 and shape[-1] in (1, 3) and shape[0] not in (1, 3)

    @property
    def chunk_rows(self) -> int:
        if self._chunk_rows:
            return int(self._chunk_rows)
        _, _, shape = self.raw_meta("train")
        return max(1, CHUNK_BYTES // (max(1, int(np.prod(shape))) * FLOAT64_BYTES))

    # --- rows ----------------------------------------------------------------------------------
    def _checked_rows(self, part: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw rows as float32 (scaled) examples and int64 labels, refused when unusable."""
        what = self.what(part)
        n, dtype, shape = self.raw_meta(part)
        if x.shape[1:] != shape or x.dtype != dtype:
            raise DataDietError(
                f"{what}: rows of shape {x.shape[1:]} and dtype {x.dtype}, expected {shape} and {dtype}"
            )
        xs = _examples(what, x, self.scale)
        ys = _labels(f"{what} labels", np.asarray(y), xs.shape[0])
        self._check_classes(part, ys)
        return xs, ys

    def _check_classes(self, part: str, y: np.ndarray) -> None:
        names = self.class_names_given
        if names is not None and y.size and y.dtype.kind in "iu" and y.max() >= len(names):
            raise DataDietError(
                f"{self.what(part)}: label {int(y.max())} is outside the {len(names)} classes ({', '.join(names)})"
            )

    def chunks(self, part: str = "train"):
        """(start, raw x, raw y) for consecutive chunks of ``chunk_rows`` rows."""
        n = self.raw_meta(part)[0]
        for start in range(0, n, self.chunk_rows):
            x, y = self.raw_rows(part, start, min(n, start + self.chunk_rows))
            yield start, x, y

    def _indices(self, indices, part: str) -> np.ndarray:
        n = self.raw_meta(part)[0]
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx[(idx < 0) | (idx >= n)][0])
            raise DataDietError(f"index {bad} is out of range for {self.what(part)} ({n} examples)")
        return idx

    def read(self, indices, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``indices`` of ``part``: normalised float32 inputs (n, C, ...) and int64 labels, bitwise
        the rows of ``to_dataset()``'s tensors."""
        if part not in PARTS:
            raise DataDietError(f"part must be train or test, got {part!r}")
        idx = self._indices(indices, part)
        x, y = self._checked_rows(part, *self.raw_take(part, idx))
        mean, std = self.mean_std
        shape = (1, -1) + (1,) * (x.ndim - 2)
        x = ((x - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    # --- streaming passes -------------------------------------------------------------------------
    def _scan(self) -> tuple[str, tuple[str, ...]]:
        """One pass over every row, chunk by chunk: the fingerprint (in ``fingerprint_arrays``' order
        x_train, y_train, x_test, y_test; the labels are held meanwhile, the inputs never) and the class
        names, every row checked."""
        fp, seen = StreamFingerprint(), {}
        for part in PARTS:
            n, dtype, shape = self.raw_meta(part)
            least = 2 if part == "train" else 1
            if n < least:
                raise DataDietError(f"{self.what(part)} must hold at least {least} example(s), got {n}")
            if part == "test" and _examples(self.what(part), np.zeros((1, *shape), dtype), None).shape[1:] != (
                self.input_shape
            ):
                raise DataDietError(
                    f"{self.what(part)}: examples of shape {shape}, the training examples {self.raw_meta('train')[2]}"
                )
            fp.start(dtype, (n, *shape))
            ys = []
            for _, x, y in self.chunks(part):
                self._checked_rows(part, x, y)
                fp.add(x)
                ys.append(np.asarray(y))
            y = np.concatenate(ys)
            fp.start(y.dtype, y.shape)
            fp.add(y)
            seen[part] = np.unique(y).astype(np.int64)
        _check_label_sets(seen["train"], seen["test"])
        if self.class_names_given is not None:
            return fp.hexdigest(), self.class_names_given
        return fp.hexdigest(), tuple(str(i) for i in range(int(seen["train"].max()) + 1))

    @cached_property
    def _scanned(self) -> tuple[str, tuple[str, ...]]:
        return self._scan()

    @property
    def fingerprint(self) -> str:
        """``fingerprint_arrays`` of the raw arrays, computed chunk by chunk (cached)."""
        return self._scanned[0]

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._scanned[1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def check_fingerprint(self, expected: str) -> str:
        """Read every row again; refuse a source whose fingerprint is no longer ``expected``."""
        self.__dict__.pop("_scanned", None)
        self.__dict__.pop("mean_std", None)
        now = self.fingerprint
        if now != expected:
            raise DataDietError(f"{self.name} changed since its fingerprint {expected} (now {now}); score it again")
        return now

    @cached_property
    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std of the training inputs (std 0 -> 1): given, or two streaming passes."""
        if self._given is not None:
            return self._given
        _ = self.fingerprint  # every row checked first

        def chunks():
            for _, x, _ in self.chunks("train"):
                yield _examples(self.what("train"), x, self.scale)

        count = values_per_channel(self.num_train, self.input_shape)
        return streaming_mean_std(chunks, channels=self.input_shape[0], channels_last=self.channels_last, count=count)

    @property
    def mean(self) -> tuple[float, ...]:
        return tuple(float(m) for m in self.mean_std[0])

    @property
    def std(self) -> tuple[float, ...]:
        return tuple(float(s) for s in self.mean_std[1])

    # --- views -------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """Every raw array in memory (x_train, y_train, x_test, y_test)."""
        out = {}
        for part in PARTS:
            n = self.raw_meta(part)[0]
            x, y = self.raw_rows(part, 0, n)
            out[f"x_{part}"], out[f"y_{part}"] = np.asarray(x), np.asarray(y)
        return out

    def to_dataset(self) -> Dataset:
        """The in-memory Dataset: exactly ``from_arrays`` of the same arrays."""
        arrays = self.arrays()
        for part in PARTS:
            self._check_classes(part, arrays[f"y_{part}"])
        return from_arrays(self.name, **arrays, class_names=self.class_names_given, scale=self.scale)

    def labels(self, part: str = "train") -> np.ndarray:
        """Every label of ``part`` as stored (read chunk by chunk; sources with a label column override)."""
        return np.concatenate([np.asarray(y) for _, _, y in self.chunks(part)])

    def to_lazy_dataset(self) -> Dataset:
        """The Dataset whose inputs are read lazily (:class:`~datadiet.data.lazy.LazyRows` views) and whose
        labels are in memory: ``to_dataset()``'s name, fingerprint, class names, mean/std, labels and
        bytes per example, and rows bitwise its tensors' rows, without holding the inputs."""
        mean, std = self.mean_std  # every row checked first (the fingerprint's pass)
        ys = {}
        for part in PARTS:
            raw = np.asarray(self.labels(part))
            ys[part] = _labels(f"{self.what(part)} labels", raw, self.raw_meta(part)[0])
            self._check_classes(part, ys[part])
        n, dtype, shape = self.raw_meta("train")
        return Dataset(
            name=self.name,
            x_train=LazyRows(self, "train"),
            y_train=torch.from_numpy(ys["train"]),
            x_test=LazyRows(self, "test"),
            y_test=torch.from_numpy(ys["test"]),
            class_names=self.class_names,
            fingerprint=self.fingerprint,
            mean=self.mean,
            std=self.std,
            bytes_per_example=int(np.prod(shape, dtype=np.int64)) * dtype.itemsize + self._label_bytes(),
        )

    def _label_bytes(self) -> int:
        """Storage of one training label as stored (``from_arrays``' ``y_train[:1].nbytes``)."""
        return int(np.asarray(self.raw_rows("train", 0, 1)[1]).itemsize)

    def torch_dataset(self, part: str = "train") -> SourceDataset:
        return SourceDataset(self, part)


class SourceDataset(torch.utils.data.Dataset):
    """A map-style torch Dataset over one part of a :class:`LazySource`: item ``i`` is the normalised
    ``(x, y)`` of example ``i``; ``__getitems__`` reads a batch's rows at once."""

    def __init__(self, source: LazySource, part: str = "train") -> None:
        if part not in PARTS:
            raise DataDietError(f"part must be train or test, got {part!r}")
        self.source, self.part = source, part

    def __len__(self) -> int:
        return self.source.raw_meta(self.part)[0]

    def __getitem__(self, i):
        x, y = self.source.read([int(i)], self.part)
        return x[0], y[0]

    def __getitems__(self, indices):
        x, y = self.source.read(indices, self.part)
        return list(zip(x, y))


def release_pages(array: np.ndarray, start: int, stop: int) -> None:
    """Drop rows ``start..stop-1`` of a memory-mapped ``array`` from this process's resident set.

    Pages of a read-only file mapping stay mapped (and counted in the process's RSS) once read, so a
    pass over a 1M-row file would leave all of it resident; ``MADV_DONTNEED`` unmaps them again (they
    stay in the kernel's page cache, and a later read maps them back with their same bytes). No-op for
    an array that is not memory-mapped, or where the platform has no ``madvise``.
    """
    mm = getattr(array, "_mmap", None)
    if mm is None or stop <= start or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    row = int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize
    base = int(array.offset) % mmap.ALLOCATIONGRANULARITY  # where row 0 starts in the mapping (np.memmap)
    first = (base + start * row) // mmap.PAGESIZE * mmap.PAGESIZE
    last = min(len(mm), -(-(base + stop * row) // mmap.PAGESIZE) * mmap.PAGESIZE)
    if last > first:
        mm.madvise(mmap.MADV_DONTNEED, first, last - first)


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataDietError(f"npy file not found: {path}")
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise DataDietError(f"corrupt npy file {path}: not an .npy file as np.save writes it")
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except DataDietError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise DataDietError(
                f"npy file {path} has dtype object (pickled Python objects); save numeric arrays"
            ) from None
        raise DataDietError(f"corrupt npy file {path}: {_one_line(e)}") from None
    except Exception as e:
        raise DataDietError(f"corrupt npy file {path}: {_one_line(e)}") from None
    if not isinstance(a, np.ndarray) or a.ndim < 1:
        raise DataDietError(f"npy file {path} must hold an array of rows, got shape {getattr(a, 'shape', None)}")
    return a


class NpySource(LazySource):
    """``npy:DIR``: memory-mapped ``x_train.npy``, ``y_train.npy``, ``x_test.npy``, ``y_test.npy``."""

    FILES = ("x_train", "y_train", "x_test", "y_test")

    def __init__(self, directory, *, name: str | None = None, chunk_rows=None, mean=None, std=None) -> None:
        super().__init__(chunk_rows=chunk_rows, mean=mean, std=std)
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise DataDietError(f"npy dataset folder not found: {self.directory}")
        self.name = name or f"npy:{directory}"
        self.arrays_ = {k: _load_npy(self.directory / f"{k}.npy") for k in self.FILES}
        self.touched: dict[str, int] = {}  # bytes of scattered rows read since their pages were last dropped
        for part in PARTS:
            x, y = self.arrays_[f"x_{part}"], self.arrays_[f"y_{part}"]
            if y.ndim != 1 or y.shape[0] != x.shape[0]:
                raise DataDietError(
                    f"{self.directory / f'y_{part}.npy'} must have shape ({x.shape[0]},) to match "
                    f"x_{part}.npy, got {y.shape}"
                )
        self.scale = uint8_scale(self.arrays_["x_train"].dtype)
        self.class_names_given = read_class_names(self.directory / "class_names.txt")
        if self.arrays_["x_test"].dtype != self.arrays_["x_train"].dtype:
            raise DataDietError(
                f"{self.directory / 'x_test.npy'} has dtype {self.arrays_['x_test'].dtype}, x_train.npy "
                f"{self.arrays_['x_train'].dtype}"
            )

    def __getstate__(self) -> dict:
        """Pickled without the memory-mapped arrays (a DataLoader worker started by spawn or forkserver
        gets the source by pickle, and a memmap pickles as all its rows): unpickling maps them again."""
        return {k: v for k, v in self.__dict__.items() if k != "arrays_"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.arrays_ = {k: _load_npy(self.directory / f"{k}.npy") for k in self.FILES}

    def what(self, part: str) -> str:
        return str(self.directory / f"x_{part}.npy")

    def raw_meta(self, part):
        x = self.arrays_[f"x_{part}"]
        return int(x.shape[0]), x.dtype, tuple(x.shape[1:])

    def raw_rows(self, part, start, stop):
        x = self.arrays_[f"x_{part}"]
        rows = np.array(x[start:stop]), np.array(self.arrays_[f"y_{part}"][start:stop])
        release_pages(x, start, stop)  # copied out: RSS stays one chunk, however large the file
        return rows

    def raw_take(self, part, indices):
        x = self.arrays_[f"x_{part}"]
        rows = np.array(x[indices]), np.array(self.arrays_[f"y_{part}"][indices])
        # scattered rows: drop the mapped pages once about RESIDENT_BYTES of them may be resident (a
        # madvise per batch would make every later read fault its pages in again, ~2x a batch's read)
        row_pages = int(np.prod(x.shape[1:], dtype=np.int64)) * x.itemsize + mmap.PAGESIZE
        self.touched[part] = self.touched.get(part, 0) + len(indices) * row_pages
        if self.touched[part] >= RESIDENT_BYTES:
            release_pages(x, 0, len(x))
            self.touched[part] = 0
        return rows

    def files(self, part: str) -> list[Path]:
        return [self.directory / f"x_{part}.npy", self.directory / f"y_{part}.npy"]

    def labels(self, part: str = "train") -> np.ndarray:
        return np.array(self.arrays_[f"y_{part}"])

    def _label_bytes(self) -> int:
        return int(self.arrays_["y_train"].dtype.itemsize)


class TorchSource(LazySource):
    """Map-style torch Datasets of ``(x, y)`` (train, test) from the API, read item by item (as
    :func:`~datadiet.data.dataset.from_torch` stacks them, without scaling)."""

    def __init__(self, train, test, *, name: str = "torch", class_names=None, chunk_rows=None, mean=None, std=None):
        super().__init__(chunk_rows=chunk_rows, mean=mean, std=std)
        self.name, self.data = name, {}
        for part, data in (("train", train), ("test", test)):
            if not (isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__")):
                raise DataDietError(f"{part} must be a map-style torch Dataset of (x, y), got {type(data).__name__}")
            self.data[part] = data
        self.class_names_given = None if class_names is None else tuple(str(c) for c in class_names)
        self._meta = {}

    def _item(self, part: str, i: int) -> tuple[np.ndarray, int]:
        item = self.data[part][int(i)]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise DataDietError(f"{part}[{i}] must be an (x, y) pair")
        x, y = item
        return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x), int(y)

    def raw_meta(self, part):
        if part not in self._meta:
            n = len(self.data[part])
            first = self._item(part, 0)[0] if n else np.zeros(1, np.float32)
            self._meta[part] = (n, first.dtype, tuple(first.shape))
        return self._meta[part]

    def raw_take(self, part, indices):
        n, dtype, shape = self.raw_meta(part)
        xs, ys = [], []
        for i in indices:
            x, y = self._item(part, i)
            if x.shape != shape or x.dtype != dtype:
                raise DataDietError(
                    f"{part}[{int(i)}] has shape {x.shape} and dtype {x.dtype}, item 0 {shape} and {dtype}"
                )
            xs.append(x)
            ys.append(y)
        return np.stack(xs) if xs else np.empty((0, *shape), dtype), np.asarray(ys, dtype=np.int64)


def from_torch_lazy(train, test, *, name: str = "torch", class_names=None, **options) -> TorchSource:
    """A lazy source over two map-style torch Datasets of ``(x, y)``: nothing is read until asked."""
    return TorchSource(train, test, name=name, class_names=class_names, **options)


__all__ = ["MAX_CLASSES", "LazySource", "NpySource", "SourceDataset", "TorchSource", "from_torch_lazy"]

"""LazyRows: a lazily read view of a source's inputs indexes like the in-memory tensor, composes, pickles small."""

import pickle

import numpy as np
import pytest
import torch

from datadiet.data import load_dataset, registry
from datadiet.data.groups import brightness_quartiles
from datadiet.data.lazy import LazyRows, per_row, take_rows
from datadiet.data.rows import ViewRows, row_reader
from datadiet.data.shards import FolderSource, ParquetSource
from datadiet.data.sources import NpySource
from datadiet.data.split import split_validation
from datadiet.errors import DataDietError
from datadiet.scores.basic import input_norm
from tests.data.test_sources import _arrays, _image_folder, _npy_dir, _parquet_dir


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    d = _npy_dir(tmp_path_factory.mktemp("lazyrows") / "data", _arrays(n_train=60, n_test=12))
    return NpySource(d)


def test_indexing_equals_the_tensors_indexing(npy):
    lazy, ref = npy.to_lazy_dataset(), npy.to_dataset()
    x, t = lazy.x_train, ref.x_train
    assert isinstance(x, LazyRows) and x.shape == t.shape and x.ndim == 4 and len(x) == 60
    assert x.dtype == t.dtype and lazy.input_shape == ref.input_shape and lazy.is_image
    mask = np.arange(60) % 3 == 0
    for key in (
        5,
        -1,
        slice(3, 17),
        slice(None, None, 7),
        slice(50, 100),
        [4, 0, 4],
        np.array([59, 2]),
        torch.tensor([7, 1]),
        mask,
        torch.from_numpy(mask),
        np.array([], dtype=np.int64),
    ):
        assert torch.equal(x[key], t[key]), key
    assert torch.equal(lazy.x_test[:], ref.x_test) and torch.equal(x.materialise(chunk_rows=7), t)
    for bad in (60, -61, [0, 60]):
        with pytest.raises(DataDietError, match="out of range"):
            x[bad]
    with pytest.raises(DataDietError, match="read lazily"):
        np.asarray(x)
    with pytest.raises(DataDietError, match="read lazily"):
        list(x)


def test_take_composes_and_reads_nothing(npy, monkeypatch):
    x, t = npy.to_lazy_dataset().x_train, npy.to_dataset().x_train
    reads = []
    monkeypatch.setattr(npy, "read", lambda idx, part="train": reads.append(idx) or NpySource.read(npy, idx, part))
    rows, inner = np.array([50, 3, 8, 20, 41]), torch.tensor([4, 0, 2])
    view = x.take(rows).take(inner)
    assert reads == [] and view.shape == (3, *t.shape[1:])
    assert torch.equal(view[:], t[rows][inner]) and torch.equal(view[1], t[rows][inner][1])
    assert torch.equal(take_rows(t, rows), t[rows]) and isinstance(take_rows(x, rows), LazyRows)
    assert [len(r) for r in reads] == [3, 1]


def test_pickles_small_and_unpickles_to_the_same_rows(npy):
    x = npy.to_lazy_dataset().x_train.take(np.arange(0, 60, 2))
    blob = pickle.dumps(x)
    assert len(blob) < 4000 + x.rows.nbytes  # the source's path and statistics, not its 60 x 64 inputs
    assert torch.equal(pickle.loads(blob)[[1, 29]], x[[1, 29]])


def test_split_groups_norms_and_rows_of_a_lazy_dataset_equal_memory(npy):
    lazy, ref = (split_validation(d, 0.25, 3) for d in (npy.to_lazy_dataset(), npy.to_dataset()))
    assert isinstance(lazy.x_train, LazyRows) and isinstance(lazy.x_val, LazyRows)
    assert lazy.fingerprint == ref.fingerprint and torch.equal(lazy.x_val[:], ref.x_val)
    assert torch.equal(lazy.x_train[:], ref.x_train) and np.array_equal(lazy.index, ref.index)
    assert np.array_equal(input_norm(lazy.x_train), input_norm(ref.x_train))
    assert np.array_equal(per_row(lambda r: r.sum(1), lazy.x_train, 7).numpy(), ref.x_train.sum(1).numpy())
    g_lazy, g_ref = brightness_quartiles(lazy), brightness_quartiles(ref)
    assert all(np.array_equal(getattr(g_lazy, g), getattr(g_ref, g)) for g in ("g_train", "g_test", "g_val"))
    reader = row_reader(lazy)
    assert isinstance(reader, ViewRows) and len(reader) == lazy.num_train
    x, y = reader.read(5, 20)
    assert torch.equal(x[:], ref.x_train[5:20]) and torch.equal(y, ref.y_train[5:20])


def test_parquet_and_folder_load_lazily_with_the_in_memory_fingerprint(tmp_path, monkeypatch):
    shards = _parquet_dir(tmp_path / "shards", _arrays(n_train=40, n_test=8), shard_rows=16, group_rows=8)
    registry._load_clean.cache_clear()
    small = load_dataset(f"parquet:{shards}")  # 48 rows of 8x8 fit in IN_MEMORY_BYTES: loaded into memory
    assert isinstance(small.x_train, torch.Tensor) and registry.fits_in_memory(ParquetSource(shards))
    monkeypatch.setattr(registry, "IN_MEMORY_BYTES", 48 * 64 * 4 - 1)  # one value too many: read lazily
    registry._load_clean.cache_clear()
    assert not registry.fits_in_memory(ParquetSource(shards))
    lazy, ref = load_dataset(f"parquet:{shards}"), ParquetSource(shards).to_dataset()
    assert small.fingerprint == ref.fingerprint and torch.equal(small.x_train, ref.x_train)
    assert isinstance(lazy.x_train, LazyRows) and lazy.fingerprint == ref.fingerprint
    assert torch.equal(lazy.x_train[[39, 0, 17]], ref.x_train[[39, 0, 17]]) and torch.equal(lazy.y_test, ref.y_test)
    assert lazy.bytes_per_example == ref.bytes_per_example
    root = _image_folder(tmp_path / "pets", n_train=4, shape=(5, 6, 3))
    monkeypatch.setattr(registry, "IN_MEMORY_BYTES", 0)
    lazy, ref = load_dataset(f"folder:{root}"), FolderSource(root).to_dataset()
    assert isinstance(lazy.x_train, LazyRows) and lazy.fingerprint == ref.fingerprint
    assert lazy.files_train == ref.files_train and lazy.source_dir == ref.source_dir
    assert torch.equal(lazy.x_train[:], ref.x_train) and lazy.class_names == ("cat", "dog")
    registry._load_clean.cache_clear()


def test_a_spec_of_a_lazy_source_loads_a_dataset_read_lazily():
    from datadiet.data.sources import from_torch_lazy
    from datadiet.engine.datasets import DatasetSpec

    a = {k: torch.tensor(v.astype(np.float32) if k[0] == "x" else v) for k, v in _arrays(30, 8, (5,)).items()}
    source = from_torch_lazy(*(torch.utils.data.TensorDataset(a[f"x_{p}"], a[f"y_{p}"]) for p in ("train", "test")))
    spec = DatasetSpec.of(source)
    ds, ref = spec.load(), source.to_dataset()
    assert isinstance(ds.x_train, LazyRows) and spec.fingerprint == ref.fingerprint
    assert torch.equal(ds.x_train[:], ref.x_train) and torch.equal(ds.y_test, ref.y_test)

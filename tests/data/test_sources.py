"""Lazy sources (npy:DIR, parquet:DIR, image folders, torch Datasets): chunk-wise reads that give the
in-memory numbers bitwise, fingerprints, bad input, and the diet exported in the source's format."""

import io
import os
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from datadiet.data import from_arrays, from_torch, load_dataset, sources, streaming
from datadiet.data.dataset import _examples, _standardise
from datadiet.data.export import export_source
from datadiet.data.shards import FolderSource, ParquetSource
from datadiet.data.sources import NpySource, from_torch_lazy
from datadiet.errors import DataDietError


def _arrays(n_train=200, n_test=40, shape=(8, 8), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y_train = np.arange(n_train) % classes
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": y_train,
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def _npy_dir(path, arrays, class_names=None):
    path.mkdir(parents=True, exist_ok=True)
    for k, v in arrays.items():
        np.save(path / f"{k}.npy", v)
    if class_names:
        (path / "class_names.txt").write_text("\n".join(class_names) + "\n")
    return path


def _png(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _parquet_dir(path, arrays, shard_rows=64, group_rows=20, hf_struct=False):
    path.mkdir(parents=True, exist_ok=True)
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        for s, lo in enumerate(range(0, len(y), shard_rows)):
            images = [_png(a) for a in x[lo : lo + shard_rows]]
            col = [{"bytes": b, "path": None} for b in images] if hf_struct else images
            table = pa.table(
                {"image": col, "label": y[lo : lo + shard_rows], "note": [f"r{lo + i}" for i in range(len(images))]}
            )
            pq.write_table(table, path / f"{part}-{s:05d}.parquet", row_group_size=group_rows)
    return path


def _image_folder(root, *, n_train, shape):
    """``root/{train,test}/{cat,dog}/<i>.png``: ``n_train`` (2 test) random RGB images a class, seed 0."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", 2)):
        for name in ("cat", "dog"):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(root / split / name / f"{i}.png")
    return root


class Counting:
    """Wraps a source's ``raw_rows`` to count its reads and the largest one."""

    def __init__(self, source):
        self.calls, self.largest, inner = 0, 0, source.raw_rows

        def raw_rows(part, start, stop):
            self.calls += 1
            self.largest = max(self.largest, stop - start)
            return inner(part, start, stop)

        source.raw_rows = raw_rows


def test_npy_source_reads_chunk_wise_and_gives_the_in_memory_numbers(tmp_path):
    arrays = _arrays()
    src = NpySource(_npy_dir(tmp_path / "d", arrays), chunk_rows=32)
    assert all(isinstance(a, np.memmap) for a in src.arrays_.values())  # nothing loaded at opening
    count = Counting(src)
    ref = from_arrays(src.name, **arrays, scale=255.0)
    assert src.fingerprint == ref.fingerprint  # one streaming pass, the in-memory hash
    assert src.mean == ref.mean and src.std == ref.std  # bitwise, two more passes
    assert count.largest == 32 and count.calls == 3 * 7 + 2  # 200 train rows in chunks of 32, 40 test rows once
    idx = np.array([199, 0, 5, 5, 77])
    x, y = src.read(idx)
    assert torch.equal(x, ref.x_train[idx]) and torch.equal(y, ref.y_train[idx]) and x.dtype == torch.float32
    x, y = src.read(np.arange(40), "test")
    assert torch.equal(x, ref.x_test) and torch.equal(y, ref.y_test)
    ds = load_dataset(f"npy:{src.directory}")
    assert (
        ds.fingerprint == ref.fingerprint and torch.equal(ds.x_train[:], ref.x_train) and ds.mean == ref.mean
    )  # read lazily
    np.savez(tmp_path / "same.npz", **arrays)
    same = load_dataset(f"npz:{tmp_path / 'same.npz'}")  # the npz path of the same arrays: same data, same hash
    assert same.fingerprint == ds.fingerprint and torch.equal(same.x_train, ds.x_train[:])
    items = src.torch_dataset("train")
    batch = next(iter(torch.utils.data.DataLoader(items, batch_size=16)))
    assert len(items) == 200 and torch.equal(batch[0], ref.x_train[:16]) and torch.equal(batch[1], ref.y_train[:16])


@pytest.mark.parametrize(
    "raw",
    [
        np.random.default_rng(1).integers(0, 256, (300, 28, 28), dtype=np.uint8),  # one channel
        np.random.default_rng(2).integers(0, 256, (60, 10, 12, 3), dtype=np.uint8),  # channels last
        np.random.default_rng(3).integers(0, 256, (30, 3, 100, 90), dtype=np.uint8),  # channels first, long rows
        np.random.default_rng(4).normal(size=(120, 37)).astype(np.float32),  # flat features
    ],
    ids=["grey", "channels-last", "channels-first", "flat"],
)
def test_streaming_stats_equal_numpy_bitwise(raw, monkeypatch):
    monkeypatch.setattr(streaming, "LEAF", 1000)  # many pairwise leaves even on tiny data
    scale = 255.0 if raw.dtype == np.uint8 else None
    x = _examples("x_train", raw, scale)
    _, _, mean, std = _standardise(x, x[:1])  # the in-memory numbers: numpy's mean and std
    channels_last = raw.ndim == 4 and raw.shape[-1] == 3
    for rows in (1, 7, 1000):

        def chunks(rows=rows):
            for i in range(0, len(raw), rows):
                yield _examples("rows", raw[i : i + rows], scale)

        count = streaming.values_per_channel(len(raw), x.shape[1:])
        m, s = streaming.streaming_mean_std(chunks, channels=x.shape[1], channels_last=channels_last, count=count)
        assert np.array_equal(m, mean) and np.array_equal(s, std), rows
    naive = x.astype(np.float64).transpose(1, 0, *range(2, x.ndim)).reshape(x.shape[1], -1)
    np.testing.assert_allclose(m, naive.mean(axis=1), rtol=1e-12)  # and they are the mean and std
    np.testing.assert_allclose(s, naive.std(axis=1), rtol=1e-9)


def test_fingerprint_changes_with_one_byte_and_check_fingerprint_refuses(tmp_path):
    d = _npy_dir(tmp_path / "d", _arrays())
    before = NpySource(d, chunk_rows=50).fingerprint
    raw = bytearray((d / "x_train.npy").read_bytes())
    raw[-1] ^= 1  # the last pixel of the last example
    (d / "x_train.npy").write_bytes(bytes(raw))
    src = NpySource(d, chunk_rows=50)
    assert src.fingerprint != before
    with pytest.raises(DataDietError, match=r"changed since its fingerprint") as e:
        src.check_fingerprint(before)
    assert "\n" not in str(e.value)
    assert src.check_fingerprint(src.fingerprint) == src.fingerprint
    y = np.load(d / "y_test.npy")
    y[0] = 3 - y[0]
    np.save(d / "y_test.npy", y)
    assert NpySource(d).fingerprint != src.fingerprint  # labels count too


def test_parquet_shards_read_by_row_group_and_give_the_in_memory_numbers(tmp_path):
    arrays = _arrays()
    src = ParquetSource(_parquet_dir(tmp_path / "p", arrays, hf_struct=True))
    ref = from_arrays(src.name, **arrays, scale=255.0)
    assert (src.num_train, src.num_test, src.input_shape) == (200, 40, (1, 8, 8))
    assert src.fingerprint == ref.fingerprint and src.mean == ref.mean and src.std == ref.std
    src.reads = 0
    x, y = src.read([150, 2, 77, 3])
    assert torch.equal(x, ref.x_train[[150, 2, 77, 3]]) and torch.equal(y, ref.y_train[[150, 2, 77, 3]])
    assert src.reads == 3  # rows 2 and 3 share a row group: only the groups holding the rows are read
    ds = load_dataset(f"parquet:{src.directory}")
    assert torch.equal(ds.x_train[:], ref.x_train) and ds.fingerprint == ref.fingerprint


def test_image_folder_source_equals_the_folder_loader(tmp_path):
    root = _image_folder(tmp_path / "pets", n_train=5, shape=(6, 7, 3))
    src = FolderSource(root)
    ds = load_dataset(f"folder:{root}")
    assert src.fingerprint == ds.fingerprint and src.mean == ds.mean and src.input_shape == (3, 6, 7)
    x, y = src.read([9, 0, 4])
    assert torch.equal(x, ds.x_train[[9, 0, 4]]) and torch.equal(y, ds.y_train[[9, 0, 4]])
    again = src.to_dataset()
    assert torch.equal(again.x_train, ds.x_train[:]) and again.files_train == ds.files_train
    assert again.source_dir == ds.source_dir


def test_torch_source_equals_from_torch():
    a = _arrays(n_train=30, n_test=8, shape=(5,))
    a = {k: torch.tensor(v.astype(np.float32) if k[0] == "x" else v) for k, v in a.items()}
    train = torch.utils.data.TensorDataset(a["x_train"], a["y_train"])
    test = torch.utils.data.TensorDataset(a["x_test"], a["y_test"])
    src, ref = from_torch_lazy(train, test, chunk_rows=4), from_torch(train, test)
    assert src.fingerprint == ref.fingerprint and src.std == ref.std
    assert torch.equal(src.read([3, 29])[0], ref.x_train[[3, 29]])
    with pytest.raises(DataDietError, match="map-style torch Dataset"):
        from_torch_lazy([1, 2], test)


def _one_line_error(fn, match):
    with pytest.raises(DataDietError, match=match) as e:
        fn()
    assert "\n" not in str(e.value), str(e.value)


def test_npy_bad_input_is_one_line(tmp_path):
    good = _arrays(n_train=20, n_test=4)
    _one_line_error(lambda: NpySource(tmp_path / "none"), "npy dataset folder not found")
    d = _npy_dir(tmp_path / "missing", good)
    (d / "y_test.npy").unlink()
    _one_line_error(lambda: NpySource(d), r"npy file not found: .*y_test\.npy")
    d = _npy_dir(tmp_path / "corrupt", good)
    (d / "x_train.npy").write_bytes(b"\x93NUMPY garbage")
    _one_line_error(lambda: NpySource(d), r"corrupt npy file .*x_train\.npy")
    d = _npy_dir(tmp_path / "short", {**good, "y_train": good["y_train"][:-1]})
    _one_line_error(lambda: NpySource(d), r"y_train\.npy must have shape \(20,\) to match x_train\.npy, got \(19,\)")
    neg = good["y_train"].copy()
    neg[3] = -1
    _one_line_error(
        lambda: NpySource(_npy_dir(tmp_path / "neg", {**good, "y_train": neg})).fingerprint, "labels >= 0, got -1"
    )
    d = _npy_dir(tmp_path / "names", good, class_names=["a", "b"])
    _one_line_error(lambda: NpySource(d).fingerprint, r"x_train\.npy: label 3 is outside the 2 classes \(a, b\)")
    _one_line_error(lambda: NpySource(d).read([25]), "index 25 is out of range")


def test_parquet_bad_input_is_one_line(tmp_path):
    good = _arrays(n_train=20, n_test=4)
    d = _parquet_dir(tmp_path / "p", good, shard_rows=8)
    (d / "train-00001.parquet").write_bytes(b"PAR1 not a parquet file")
    _one_line_error(lambda: ParquetSource(d), r"corrupt parquet shard .*train-00001\.parquet")
    d = _parquet_dir(tmp_path / "q", good, shard_rows=8)
    for f in d.glob("test-*.parquet"):
        f.unlink()
    _one_line_error(lambda: ParquetSource(d), r"no test-\*\.parquet shards in")
    d = _parquet_dir(tmp_path / "r", good, shard_rows=8)
    pq.write_table(pa.table({"image": [_png(np.zeros((9, 9), np.uint8))], "label": [0]}), d / "train-00009.parquet")
    _one_line_error(lambda: ParquetSource(d).fingerprint, r"row 20: image of shape \(9, 9\).*mixed image sizes")
    d = _parquet_dir(tmp_path / "s", good, shard_rows=8)
    pq.write_table(pa.table({"image": [_png(np.zeros((8, 8), np.uint8))], "label": [-2]}), d / "train-00009.parquet")
    _one_line_error(lambda: ParquetSource(d).fingerprint, "labels >= 0, got -2")


def _raw(path):
    return {k: np.load(path / f"{k}.npy") for k in ("x_train", "y_train", "x_test", "y_test")}


def test_export_npy_round_trips_the_kept_rows_in_order(tmp_path):
    arrays = _arrays()
    src = NpySource(_npy_dir(tmp_path / "d", arrays, class_names=["a", "b", "c", "d"]), chunk_rows=16)
    kept = np.array([150, 3, 77, 0, 199, 42] + list(range(100, 140)))
    out = export_source(src, kept, tmp_path / "diet")
    back = _raw(tmp_path / "diet")
    assert np.array_equal(back["x_train"], arrays["x_train"][kept]) and np.array_equal(
        back["y_train"], arrays["y_train"][kept]
    )
    assert np.array_equal(back["x_test"], arrays["x_test"]) and back["x_train"].dtype == np.uint8
    lines = (tmp_path / "diet" / "kept.csv").read_text().splitlines()
    assert lines[0] == "index,label" and lines[1] == f"150,{arrays['y_train'][150]}" and len(lines) == 1 + kept.size
    ds = load_dataset(f"npy:{tmp_path / 'diet'}")
    assert ds.num_train == kept.size and ds.class_names == ("a", "b", "c", "d")
    full = (tmp_path / "d" / "x_train.npy").stat().st_size + (tmp_path / "d" / "y_train.npy").stat().st_size
    assert out["bytes_kept"] == 128 + kept.size * 64 + 128 + kept.size * 8  # headers + rows
    assert out["bytes_saved"] == full - out["bytes_kept"] > 0
    _one_line_error(lambda: export_source(src, kept, tmp_path / "diet"), "export must be a new folder")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_export_parquet_round_trips_the_kept_rows_in_order(tmp_path):
    arrays = _arrays()
    src = ParquetSource(_parquet_dir(tmp_path / "p", arrays))
    kept = np.array([150, 3, 77, 0, 199, 42, 21, 20])
    out = export_source(src, kept, tmp_path / "diet", rows_per_shard=3)
    assert sorted(p.name for p in (tmp_path / "diet").glob("train-*")) == [f"train-0000{i}.parquet" for i in range(3)]
    again = ParquetSource(tmp_path / "diet")
    table = pq.read_table(tmp_path / "diet" / "train-00001.parquet")
    assert table.column("note").to_pylist() == ["r0", "r199", "r42"]  # every column kept, rows in order
    ds, ref = again.to_dataset(), from_arrays("x", **arrays, scale=255.0)
    x, y = again.arrays()["x_train"], again.arrays()["y_train"]
    assert np.array_equal(x, arrays["x_train"][kept]) and np.array_equal(y, arrays["y_train"][kept])
    assert torch.equal(ds.x_test, ds.x_test) and again.num_test == 40 and ref.num_train == 200
    assert load_dataset(f"parquet:{tmp_path / 'diet'}").num_train == 8
    assert out["bytes_kept"] > 0 and out["bytes_saved"] > 0 and out["format"] == "parquet"
    assert (tmp_path / "diet" / "kept.csv").read_text().splitlines()[1] == f"150,{arrays['y_train'][150]}"


@pytest.mark.parametrize("shape", [(16, 16, 3), (32, 32)])
def test_streaming_passes_hold_a_chunk_of_float64_values_not_the_data(tmp_path, monkeypatch, shape):
    """The default chunk holds about CHUNK_BYTES of float64 values (not of raw uint8 bytes, which the
    passes' float copies would multiply by about 40): the mean/std passes over 3,000 uint8 examples
    (18 to 24 MiB as float64, in chunks of 1 MiB) stay well under the data's size, with the in-memory
    numbers bitwise."""
    monkeypatch.setattr(sources, "CHUNK_BYTES", 1 << 20)
    arrays = _arrays(n_train=3000, n_test=10, shape=shape)
    src = NpySource(_npy_dir(tmp_path / "d", arrays))
    values = int(np.prod(shape))
    assert src.chunk_rows == (1 << 20) // (values * 8)
    _ = src.fingerprint
    tracemalloc.start()
    try:
        mean, std = src.mean_std
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    ref = from_arrays(src.name, **arrays, scale=255.0)
    assert mean.tobytes() == np.asarray(ref.mean, np.float64).tobytes()
    assert std.tobytes() == np.asarray(ref.std, np.float64).tobytes()
    # measured: 6 MiB (3 channels), 15 MiB (1 channel: one pairwise leaf of up to 2**20 values held for
    # bitwise sums); with chunks of 1 MiB of raw uint8 rows, 47 and 49 MiB
    assert peak < 20 * (1 << 20), peak


def _rss_file_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc/self/status")
def test_npy_reads_leave_no_mapped_pages_resident(tmp_path, monkeypatch):
    """A pass over a memory-mapped file leaves at most a chunk's pages mapped into the process (RSS
    flat in the file's size), and the rows read are unchanged: sequential chunks, then random batches
    (their pages dropped once a budget of them may be resident)."""
    rows = 4096  # 4096 rows of 64x64 uint8: 16 MiB on disk
    x = np.lib.format.open_memmap(tmp_path / "x_train.npy", mode="w+", dtype=np.uint8, shape=(rows, 64, 64))
    x[:] = (np.arange(rows) % 256).astype(np.uint8)[:, None, None]
    x.flush()
    del x
    np.save(tmp_path / "y_train.npy", np.arange(rows) % 4)
    np.save(tmp_path / "x_test.npy", np.zeros((4, 64, 64), np.uint8))
    np.save(tmp_path / "y_test.npy", np.arange(4))
    src = NpySource(tmp_path, chunk_rows=256, mean=(0.5,), std=(0.25,))
    before = _rss_file_kib()
    for start in range(0, rows, 256):
        xs, _ = src.raw_rows("train", start, start + 256)
        assert (xs == (np.arange(start, start + 256) % 256).astype(np.uint8)[:, None, None]).all()
    assert _rss_file_kib() - before < 4 * 1024  # under 4 MiB of the 16 MiB file stays resident
    monkeypatch.setattr(sources, "RESIDENT_BYTES", 4 << 20)  # a batch of 512 rows counts 512 x 8 KiB: dropped each time
    for batch in np.random.default_rng(0).permutation(rows).reshape(8, 512):
        xs, ys = src.raw_take("train", batch)
        assert (xs == (batch % 256).astype(np.uint8)[:, None, None]).all() and (ys == batch % 4).all()
    assert _rss_file_kib() - before < 4 * 1024
    untouched = NpySource(tmp_path, chunk_rows=256, mean=(0.5,), std=(0.25,))  # the same pass, pages kept
    base = _rss_file_kib()
    _ = [np.array(untouched.arrays_["x_train"][s : s + 256]) for s in range(0, rows, 256)]
    assert _rss_file_kib() - base > 12 * 1024  # the check can see resident pages: without release they stay

"""Hugging Face ``datasets.Dataset`` splits as a lazy source: the numbers of the same arrays in memory,
read a batch of rows at a time (tiny in-memory Datasets, no hub access)."""

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from datadiet.data import from_arrays, from_hf_dataset
from datadiet.errors import DataDietError
from datadiet.models import build_model
from datadiet.scores import el2n
from datadiet.training import TrainConfig, train

datasets = pytest.importorskip("datasets")

NAMES = ["tl", "tr", "bl", "br"]


def _arrays(n_train=96, n_test=32, shape=(8, 8), seed=0):
    """Learnable uint8 images: the class is the bright quadrant."""
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", n_train), ("test", n_test)):
        y = np.arange(n) % 4
        x = rng.integers(0, 120, (n, *shape)).astype(np.uint8)
        for i, c in enumerate(y):
            r, k = divmod(int(c), 2)
            if len(shape) == 1:
                x[i, c * 3 : (c + 1) * 3] += 100
            else:
                x[i, r * 4 : (r + 1) * 4, k * 4 : (k + 1) * 4] += 100
        out[f"x_{part}"], out[f"y_{part}"] = x, y.astype(np.int64)
    return out


def _png(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _image_splits(arrays, struct=False):
    """Image column (decoded PIL images, or the {bytes, path} struct) and a ClassLabel label column."""
    image = datasets.Image(decode=not struct)
    features = datasets.Features(
        {"image": image, "label": datasets.ClassLabel(names=NAMES), "note": datasets.Value("string")}
    )
    out = []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        col = [{"bytes": _png(a), "path": None} for a in x] if struct else [Image.fromarray(a) for a in x]
        out.append(
            datasets.Dataset.from_dict(
                {"image": col, "label": y.tolist(), "note": [f"r{i}" for i in range(len(y))]}, features=features
            )
        )
    return out


def _array_splits(arrays, feature, column="x"):
    out = []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        features = datasets.Features({column: feature, "label": datasets.Value("int64")})
        out.append(datasets.Dataset.from_dict({column: list(x), "label": y.tolist()}, features=features))
    return out


def _same_as_memory(src, ref):
    assert src.fingerprint == ref.fingerprint
    assert src.mean == ref.mean and src.std == ref.std  # bitwise
    assert src.class_names == ref.class_names and src.input_shape == ref.input_shape
    idx = np.array([ref.num_train - 1, 0, 5, 5, 17])
    x, y = src.read(idx)
    assert torch.equal(x, ref.x_train[idx]) and torch.equal(y, ref.y_train[idx]) and x.dtype == torch.float32
    x, y = src.read(np.arange(len(ref.y_test)), "test")
    assert torch.equal(x, ref.x_test) and torch.equal(y, ref.y_test)
    mem = src.to_dataset()
    assert mem.fingerprint == ref.fingerprint and torch.equal(mem.x_train, ref.x_train)


@pytest.mark.parametrize("struct", [False, True], ids=["pil", "bytes-path"])
@pytest.mark.parametrize("rgb", [False, True], ids=["grey", "rgb"])
def test_image_column_gives_the_in_memory_numbers(struct, rgb):
    arrays = _arrays(shape=(8, 8, 3) if rgb else (8, 8))
    train_ds, test_ds = _image_splits(arrays, struct=struct)
    src = from_hf_dataset(train_ds, test_ds, chunk_rows=40)
    assert src.raw_meta("train") == (96, np.dtype(np.uint8), arrays["x_train"].shape[1:])
    _same_as_memory(src, from_arrays("hf", **arrays, class_names=NAMES, scale=255.0))
    assert src.class_names == tuple(NAMES)  # from the ClassLabel feature


def test_image_paths_and_the_feature_mode_are_read(tmp_path):
    arrays = _arrays(n_train=20, n_test=4)
    splits = []
    for part in ("train", "test"):
        paths = []
        for i, a in enumerate(arrays[f"x_{part}"]):
            Image.fromarray(a).save(tmp_path / f"{part}{i}.png")
            paths.append({"bytes": None, "path": str(tmp_path / f"{part}{i}.png")})
        features = datasets.Features(
            {"image": datasets.Image(mode="RGB", decode=False), "label": datasets.Value("int8")}
        )
        splits.append(
            datasets.Dataset.from_dict({"image": paths, "label": arrays[f"y_{part}"].tolist()}, features=features)
        )
    src = from_hf_dataset(*splits)
    raw = [  # encoded bytes in a plain binary column (from_parquet of shards without Hugging Face's metadata)
        datasets.Dataset.from_dict({"image": [_png(a) for a in arrays[f"x_{p}"]], "label": arrays[f"y_{p}"].tolist()})
        for p in ("train", "test")
    ]
    assert from_hf_dataset(*raw).fingerprint == from_arrays("hf", **arrays).fingerprint
    rgb = {k: np.repeat(v[..., None], 3, axis=-1) if k.startswith("x") else v for k, v in arrays.items()}
    _same_as_memory(src, from_arrays("hf", **rgb, scale=255.0))  # greyscale files made RGB by the feature's mode


@pytest.mark.parametrize(
    "feature, dtype, shape",
    [
        (datasets.Array2D((8, 8), "uint8"), np.uint8, (8, 8)),
        (datasets.Array3D((8, 8, 3), "float32"), np.float32, (8, 8, 3)),
        (datasets.Sequence(datasets.Value("float64")), np.float64, (13,)),
    ],
    ids=["array2d-uint8", "array3d-float32", "sequence-float64"],
)
def test_numeric_column_gives_the_in_memory_numbers(feature, dtype, shape):
    arrays = _arrays(shape=shape)
    if dtype != np.uint8:  # values that are not integers
        arrays["x_train"], arrays["x_test"] = ((arrays[k] / 7).astype(dtype) for k in ("x_train", "x_test"))
    train_ds, test_ds = _array_splits(arrays, feature)
    src = from_hf_dataset(train_ds, test_ds, image_column="x", name="arr", class_names=NAMES, chunk_rows=25)
    assert src.raw_meta("test") == (32, np.dtype(dtype), shape)
    scale = 255.0 if dtype == np.uint8 else None
    _same_as_memory(src, from_arrays("arr", **arrays, class_names=NAMES, scale=scale))


def test_rows_are_read_a_batch_at_a_time_never_a_whole_column(monkeypatch):
    arrays = _arrays()
    train_ds, test_ds = _image_splits(arrays)
    keys, inner = [], datasets.Dataset.__getitem__

    def counting(self, key):
        keys.append(key)
        return inner(self, key)

    monkeypatch.setattr(datasets.Dataset, "__getitem__", counting)
    src = from_hf_dataset(train_ds, test_ds, chunk_rows=40)
    assert keys == []  # nothing read at opening
    _ = src.fingerprint, src.mean_std
    rows = [(k.stop - k.start) if isinstance(k, slice) else len(k) for k in keys]
    assert all(isinstance(k, (slice, list)) for k in keys) and max(rows) == 40
    keys.clear()
    src.read([7, 3, 90])
    assert keys == [[7, 3, 90], [7, 3, 90]]  # the images, then the labels: just those rows


def test_training_and_scoring_equal_the_in_memory_dataset():
    arrays = _arrays()
    src = from_hf_dataset(*_image_splits(arrays, struct=True))
    memory = src.to_dataset()
    cfg = TrainConfig(model="mlp", epochs=2, batch_size=16, lr=0.05)
    torch.manual_seed(0)
    ref = train(memory, cfg)
    torch.manual_seed(0)
    lazy = train(src, cfg, num_workers=0)
    sa, sb = ref.model.state_dict(), lazy.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert lazy.test_accuracy == ref.test_accuracy > 0.5  # it learnt: not two untrained models compared
    assert np.array_equal(lazy.test_predictions, ref.test_predictions)
    model = build_model("mlp", memory.input_shape, memory.num_classes, seed=0)
    np.testing.assert_array_equal(el2n(model, src), el2n(model, memory.x_train, memory.y_train))


def _one_line_error(make, match):
    with pytest.raises(DataDietError, match=match) as e:
        make()
    assert "\n" not in str(e.value)


def test_bad_input_is_one_line(monkeypatch):
    arrays = _arrays(n_train=8, n_test=4)
    train_ds, test_ds = _image_splits(arrays)
    _one_line_error(lambda: from_hf_dataset(train_ds, test_ds, image_column="img"), r"hf train lacks column\(s\) img")
    _one_line_error(
        lambda: from_hf_dataset(train_ds, test_ds.remove_columns("label")), r"hf test lacks column\(s\) label"
    )
    _one_line_error(lambda: from_hf_dataset(train_ds, test_ds, image_column="note"), "Image, an ArrayND or")
    _one_line_error(lambda: from_hf_dataset(datasets.DatasetDict(train=train_ds), test_ds), "DatasetDict")
    _one_line_error(lambda: from_hf_dataset(arrays["x_train"], test_ds), "must be a datasets.Dataset")
    two = from_hf_dataset(train_ds, test_ds, class_names=["a", "b"])  # labels 0..3, two names
    _one_line_error(lambda: two.fingerprint, "label 3 is outside the 2 classes")
    _one_line_error(lambda: two.read([3]), "label 3 is outside the 2 classes")
    mixed = [Image.fromarray(a) for a in arrays["x_train"]]
    mixed[5] = Image.fromarray(np.zeros((9, 8), np.uint8))
    odd = datasets.Dataset.from_dict({"image": mixed, "label": arrays["y_train"].tolist()}).cast_column(
        "image", datasets.Image()
    )
    _one_line_error(lambda: from_hf_dataset(odd, test_ds).fingerprint, "hf train row 5: .*mixed")
    ragged = datasets.Dataset.from_dict({"image": [[1.0, 2.0], [3.0], [4.0, 5.0]], "label": [0, 1, 0]})
    _one_line_error(lambda: from_hf_dataset(ragged, ragged).fingerprint, "hf train row 1: .*mixed")
    unlabelled = datasets.Dataset.from_dict({"image": [[1.0, 2.0]] * 3, "label": [0, None, 1]})
    _one_line_error(lambda: from_hf_dataset(unlabelled, unlabelled).fingerprint, "1 missing value")
    renamed = test_ds.cast_column("label", datasets.ClassLabel(names=["w", "x", "y", "z"]))
    _one_line_error(lambda: from_hf_dataset(train_ds, renamed), "ClassLabel names .* differ from train's")
    monkeypatch.setitem(sys.modules, "datasets", None)  # not installed
    _one_line_error(lambda: from_hf_dataset(train_ds, test_ds), r"needs the datasets package: pip install")

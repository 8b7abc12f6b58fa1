import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from datadiet.data import DATASETS, add_label_noise, from_arrays, load_dataset
from datadiet.data.loaders import DEBIAN_FASHION_MNIST, read_idx
from datadiet.errors import DataDietError


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="valid: fashion-mnist, mnist, mnist1d, digits"):
        load_dataset("imagenet")


def test_registry_names():
    assert {"fashion-mnist", "mnist", "mnist1d", "digits", "cifar10", "cifar100", "npz:PATH"} <= set(DATASETS)


def test_digits_shapes_and_normalisation():
    d = load_dataset("digits")
    assert d.x_train.shape == (1348, 1, 8, 8) and d.x_test.shape == (449, 1, 8, 8)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.num_classes == 10 and d.class_names[3] == "3"
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-2
    np.testing.assert_array_equal(d.index, np.arange(1348))
    assert load_dataset("digits").fingerprint == d.fingerprint


def test_mnist1d_sample_count():
    d = load_dataset("mnist1d", samples=500)
    assert d.x_train.shape == (400, 1, 40) and d.x_test.shape == (100, 1, 40)
    assert not d.is_image
    with pytest.raises(ValueError, match="samples"):
        load_dataset("digits", samples=100)


def test_mnist1d_test_samples_make_a_larger_test_set_and_keep_the_training_set():
    from datadiet.data.loaders import load_mnist1d_arrays

    small, big = load_dataset("mnist1d", samples=200), load_dataset("mnist1d", samples=200, test_samples=600)
    assert torch.equal(small.x_train, big.x_train) and torch.equal(small.y_train, big.y_train)
    assert big.x_test.shape == (600, 1, 40) and big.fingerprint != small.fingerprint
    # the new test examples are both parts of a second draw with the next seed, normalised like the training set
    raw = load_mnist1d_arrays(samples=600, seed=43)
    want = np.concatenate([raw["x_train"], raw["x_test"]])
    np.testing.assert_allclose(big.denormalise(big.x_test).reshape(600, 40).numpy(), want, atol=1e-4)
    assert not np.isin(raw["x_train"][:5].sum(1), load_mnist1d_arrays(samples=200)["x_train"].sum(1)).any()
    with pytest.raises(ValueError, match="test_samples applies to mnist1d only"):
        load_dataset("digits", test_samples=100)
    with pytest.raises(ValueError, match="test_samples must be >= 10"):
        load_dataset("mnist1d", samples=200, test_samples=5)


def _write_idx(path: Path, arr: np.ndarray, gz: bool):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def _idx_dir(tmp_path, n_train=20, n_test=10, gz=True):
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    # every test label must occur in training (from_arrays refuses unseen test labels)
    arrays["t10k-labels-idx1-ubyte"] = arrays["train-labels-idx1-ubyte"][:n_test]
    for name, a in arrays.items():
        _write_idx(tmp_path / (name + (".gz" if gz else "")), a, gz)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip(tmp_path, gz):
    arrays = _idx_dir(tmp_path, gz=gz)
    d = load_dataset("mnist", data_dir=str(tmp_path))
    assert d.x_train.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(d.y_train.numpy(), arrays["train-labels-idx1-ubyte"])
    raw = d.denormalise(d.x_train) * 255
    np.testing.assert_allclose(raw[:, 0].numpy(), arrays["train-images-idx3-ubyte"], atol=1e-3)


def test_fashion_mnist_from_data_dir_and_env(tmp_path, monkeypatch):
    _idx_dir(tmp_path, n_train=30)
    assert load_dataset("fashion-mnist", data_dir=str(tmp_path)).num_train == 30
    monkeypatch.setenv("DATADIET_DATA", str(tmp_path))
    from datadiet.data import loaders

    assert loaders.fashion_mnist_dir(None) == tmp_path


def test_idx_corrupt_and_missing(tmp_path):
    _idx_dir(tmp_path, gz=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(ValueError, match="corrupt IDX file"):
        read_idx(p)
    with pytest.raises(ValueError, match="corrupt IDX file"):
        load_dataset("mnist", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset("fashion-mnist", data_dir=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="--data-dir"):
        load_dataset("mnist")


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed (make test installs it)"
)
def test_fashion_mnist_from_debian_package():
    d = load_dataset("fashion-mnist")
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"
    assert np.bincount(d.y_train.numpy()).tolist() == [6000] * 10
    assert d.augment.flip and d.augment.crop_padding == 2 and not d.augment.default


def test_cifar_pickles(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump(
                {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, 4))}, f
            )
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [0, 1, 2]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    d = load_dataset("cifar10", data_dir=str(tmp_path))
    assert d.x_train.shape == (20, 3, 32, 32) and d.class_names[2] == "c2"
    (folder / "test_batch").write_bytes(b"garbage")
    from datadiet.data.registry import _load_clean

    _load_clean.cache_clear()
    with pytest.raises(ValueError, match="corrupt CIFAR file"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def test_npz_roundtrip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "d.npz"
    np.savez(
        p,
        x_train=rng.normal(size=(30, 5)),
        y_train=rng.integers(0, 3, 30),
        x_test=rng.normal(size=(10, 5)),
        y_test=rng.integers(0, 3, 10),
    )
    d = load_dataset(f"npz:{p}")
    assert d.x_train.shape == (30, 1, 5) and d.num_classes == 3
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((3, 2)), y_train=np.zeros(3))
    with pytest.raises(ValueError, match="lacks arrays x_test, y_test"):
        load_dataset(f"npz:{bad}")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="corrupt npz"):
        load_dataset(f"npz:{corrupt}")
    nan = tmp_path / "nan.npz"
    np.savez(
        nan, x_train=np.full((3, 2), np.nan), y_train=np.zeros(3, int), x_test=np.zeros((2, 2)), y_test=np.zeros(2, int)
    )
    with pytest.raises(ValueError, match="NaN"):
        load_dataset(f"npz:{nan}")
    shape = tmp_path / "shape.npz"
    np.savez(
        shape, x_train=np.zeros((3, 2)), y_train=np.zeros(4, int), x_test=np.zeros((2, 2)), y_test=np.zeros(2, int)
    )
    with pytest.raises(ValueError, match=r"y_train must have shape \(3,\)"):
        load_dataset(f"npz:{shape}")


def test_label_noise_is_seeded_and_recorded():
    d = load_dataset("digits")
    n1 = add_label_noise(d, 0.1, seed=3)
    n2 = load_dataset("digits", label_noise=0.1, noise_seed=3)
    assert n1.noisy.sum() == round(0.1 * d.num_train)
    changed = (n1.y_train != d.y_train).numpy()
    np.testing.assert_array_equal(changed, n1.noisy)
    np.testing.assert_array_equal(n1.y_train.numpy(), n2.y_train.numpy())
    assert torch.equal(n1.y_train_clean, d.y_train)
    assert n1.fingerprint != d.fingerprint
    n3 = add_label_noise(d, 0.1, seed=4)
    assert not np.array_equal(n3.noisy, n1.noisy)
    with pytest.raises(ValueError, match=r"label_noise must be in \[0, 1\]"):
        add_label_noise(d, 1.5)


def test_from_arrays_channels_last():
    x = np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3)).astype(np.uint8)
    d = from_arrays("c", x, np.arange(6) % 2, x[:2], np.array([0, 1]), scale=255)
    assert d.x_train.shape == (6, 3, 32, 32)


def _npz(tmp_path, name, **arrays):
    p = tmp_path / f"{name}.npz"
    np.savez(p, **arrays)
    return f"npz:{p}"


def _ok_arrays(n_train=30, n_test=10, classes=5):
    rng = np.random.default_rng(0)
    y_train = np.arange(n_train) % classes
    return {
        "x_train": rng.normal(size=(n_train, 6)),
        "y_train": y_train,
        "x_test": rng.normal(size=(n_test, 6)),
        "y_test": y_train[:n_test],
    }


def test_npz_with_empty_test_set_is_refused(tmp_path):
    a = _ok_arrays()
    name = _npz(
        tmp_path,
        "empty_test",
        x_train=a["x_train"],
        y_train=a["y_train"],
        x_test=np.zeros((0, 6)),
        y_test=np.zeros(0, int),
    )
    with pytest.raises(DataDietError, match=r"x_test must hold at least 1 example, got 0"):
        load_dataset(name)
    with pytest.raises(DataDietError, match=r"x_train must hold at least 2 examples, got 0"):
        from_arrays("e", np.zeros((0, 6)), np.zeros(0, int), a["x_test"], a["y_test"])


def test_test_labels_unseen_in_training_are_refused(tmp_path):
    a = _ok_arrays()
    y_test = a["y_test"].copy()
    y_test[[2, 5]] = [7, 9]
    with pytest.raises(
        DataDietError, match=r"y_test holds label\(s\) 7, 9 that never occur in y_train \(labels 0, 1, 2, 3, 4\)"
    ):
        load_dataset(_npz(tmp_path, "unseen", **{**a, "y_test": y_test}))


def test_single_class_and_absurd_labels_are_refused():
    a = _ok_arrays()
    with pytest.raises(DataDietError, match="at least 2 classes"):
        from_arrays("one", a["x_train"], np.zeros(30, int), a["x_test"], np.zeros(10, int))
    huge = a["y_train"].copy()
    huge[0] = 10**9  # would otherwise build a billion class names
    with pytest.raises(DataDietError, match="class indices < 100000, got 1000000000"):
        from_arrays("huge", a["x_train"], huge, a["x_test"], a["y_test"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x_train": np.zeros((30, 0))}, "at least one feature"),
        ({"x_train": np.full((30, 6), 1e300)}, "beyond the float32 range"),
        ({"x_train": np.ones((30, 6), dtype=complex)}, "must be numeric"),
        ({"x_train": np.ones((30, 6), dtype=bool)}, "must be numeric"),
        ({"y_train": np.arange(30) % 5 + 0.5}, "integer class labels"),
        ({"y_train": np.arange(30) % 5 - 1}, "labels >= 0"),
        ({"y_train": (np.arange(30) % 2).astype(bool)}, "integer class labels"),
        ({"x_test": np.ones((10, 6)) * np.inf}, "NaN or infinite"),
        ({"x_test": np.ones((10, 3))}, "same example shape"),
    ],
)
def test_npz_malformed_arrays_are_one_line_errors(tmp_path, change, message):
    with pytest.raises(DataDietError, match=message) as e:
        load_dataset(_npz(tmp_path, "bad", **{**_ok_arrays(), **change}))
    assert "\n" not in str(e.value)


def test_npz_corrupt_files_and_object_arrays(tmp_path):
    a = _ok_arrays()
    good = tmp_path / "good.npz"
    np.savez(good, **a)
    raw = good.read_bytes()
    cases = {
        "random": np.random.default_rng(0).bytes(500),
        "truncated": raw[: len(raw) // 2],
        "empty": b"",
        "flipped": raw[:200] + bytes(b ^ 0xFF for b in raw[200:400]) + raw[400:],
    }
    for name, data in cases.items():
        (tmp_path / f"{name}.npz").write_bytes(data)
        with pytest.raises(DataDietError, match="corrupt npz file") as e:
            load_dataset(f"npz:{tmp_path / name}.npz")
        assert "\n" not in str(e.value), name
    obj = tmp_path / "obj.npz"
    np.savez(obj, **{**a, "x_train": np.array([[1, "a", None]] * 30, dtype=object)})
    with pytest.raises(DataDietError, match="array x_train has dtype object"):
        load_dataset(f"npz:{obj}")
    names = tmp_path / "names.npz"
    np.savez(names, **a, class_names=np.array("one name"))
    with pytest.raises(DataDietError, match="class_names must be 1-D"):
        load_dataset(f"npz:{names}")


def test_ragged_or_odd_inputs_to_from_arrays():
    a = _ok_arrays()
    with pytest.raises(DataDietError, match="x_train must be a rectangular numeric array"):
        from_arrays("r", [[1.0, 2.0], [3.0]], [0, 1], a["x_test"], a["y_test"])
    with pytest.raises(DataDietError, match="scale must be"):
        from_arrays("s", a["x_train"], a["y_train"], a["x_test"], a["y_test"], scale=float("nan"))
    with pytest.raises(DataDietError, match="class_names must be a sequence"):
        from_arrays("c", a["x_train"], a["y_train"], a["x_test"], a["y_test"], class_names="abcde")


def test_npz_cache_sees_a_rewritten_file(tmp_path):
    a = _ok_arrays()
    p = tmp_path / "d.npz"
    np.savez(p, **a)
    assert load_dataset(f"npz:{p}").num_train == 30
    np.savez(p, **_ok_arrays(n_train=40))
    assert load_dataset(f"npz:{p}").num_train == 40


def _image_folder(root, n_per_class=6, size=(8, 8)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c, name in enumerate(("cat", "dog")):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class if split == "train" else 2):
                a = (rng.random(size) * 100 + 120 * c).astype(np.uint8)
                Image.fromarray(a, mode="L").save(root / split / name / f"{name}{i:02d}.png")
    return root


def test_image_folder_loads_and_prunes_to_a_folder(tmp_path):
    from datadiet.experiments import ScoreConfig, score_dataset
    from datadiet.experiments.prune import prune
    from datadiet.training import TrainConfig

    root = _image_folder(tmp_path / "pets")
    ds = load_dataset(f"folder:{root}")
    assert ds.num_train == 12 and ds.class_names == ("cat", "dog") and ds.input_shape == (1, 8, 8)
    assert ds.files_train[0] == "train/cat/cat00.png" and ds.y_train[6] == 1
    from PIL import Image

    raw = np.asarray(Image.open(root / ds.files_train[7]), dtype=np.float32)
    np.testing.assert_allclose(ds.denormalise(ds.x_train[7:8])[0, 0].numpy() * 255, raw, rtol=1e-5, atol=1e-3)
    res = score_dataset(
        ds,
        ScoreConfig(method="el2n", epoch=1, seeds=(0,), train=TrainConfig(model="mlp", epochs=1)),
        out=tmp_path / "runs",
    )
    kept_dir = tmp_path / "pets-kept"
    out = prune(res.path.parent / "scores.parquet", keep=0.5, out=tmp_path / "kept.npy", dataset=ds, export=kept_dir)
    idx = np.load(tmp_path / "kept.npy")
    listed = (kept_dir / "kept.csv").read_text().splitlines()
    assert listed[0] == "index,file,label" and len(listed) == 1 + out["kept"] == 7
    assert listed[1] == f"{idx[0]},{ds.files_train[idx[0]]},{ds.class_names[int(ds.y_train[idx[0]])]}"
    assert sorted(str(p.relative_to(kept_dir)) for p in (kept_dir / "train").rglob("*.png")) == sorted(
        ds.files_train[i] for i in idx
    )
    assert len(list((kept_dir / "test").rglob("*.png"))) == 4  # the test split as it was
    again = load_dataset(f"folder:{kept_dir}")  # the export is a folder dataset again
    assert again.num_train == out["kept"]
    with pytest.raises(ValueError, match="exports to a new folder"):
        prune(res.path.parent / "scores.parquet", keep=0.5, out=tmp_path / "k2.npy", dataset=ds, export=kept_dir)


def test_image_folder_errors(tmp_path):
    from PIL import Image

    with pytest.raises(ValueError, match="image folder not found"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    root = _image_folder(tmp_path / "pets")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(root / "train" / "cat" / "odd.png")
    with pytest.raises(ValueError, match="differ in size"):
        load_dataset(f"folder:{root}")
    (root / "train" / "cat" / "odd.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        load_dataset(f"folder:{root}")


def test_from_torch_equals_from_arrays(tiny_images):
    from torch.utils.data import TensorDataset

    from datadiet.data import from_torch

    raw = [tiny_images.denormalise(x).numpy() for x in (tiny_images.x_train, tiny_images.x_test)]
    a = from_arrays("t", raw[0], tiny_images.y_train.numpy(), raw[1], tiny_images.y_test.numpy())
    b = from_torch(
        TensorDataset(torch.from_numpy(raw[0]), tiny_images.y_train),
        TensorDataset(torch.from_numpy(raw[1]), tiny_images.y_test),
        name="t",
    )
    assert a.fingerprint == b.fingerprint and torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    with pytest.raises(DataDietError, match=r"\(x, y\) pair"):
        from_torch(TensorDataset(torch.zeros(3, 2)), TensorDataset(torch.zeros(3, 2)))
    with pytest.raises(DataDietError, match="map-style torch Dataset"):
        from_torch([1, 2], [3])

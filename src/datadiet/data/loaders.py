"""Readers for the on-disk formats: IDX (MNIST family), CIFAR python pickles, npz, sklearn, mnist1d."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from datadiet.errors import DataDietError

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise DataDietError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataDietError(f"corrupt IDX file {path}: bad magic number")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataDietError(f"corrupt IDX file {path}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataDietError(
            f"corrupt IDX file {path}: expected {expected} data bytes for shape {shape}, found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = directory / name
        if p.is_file():
            return p
    return None


def load_idx_dir(directory: Path, *, dataset: str, hint: str) -> dict[str, np.ndarray]:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataDietError(f"{dataset}: data directory {directory} does not exist; {hint}")
    out = {}
    for key, stem in IDX_FILES.items():
        p = _find(directory, stem)
        if p is None:
            raise DataDietError(f"{dataset}: {stem}[.gz] not found in {directory}; {hint}")
        out[key] = read_idx(p)
    for split in ("train", "test"):
        if out[f"x_{split}"].shape[0] != out[f"y_{split}"].shape[0]:
            raise DataDietError(f"{dataset}: {split} images and labels differ in count in {directory}")
    return out


def fashion_mnist_dir(data_dir: str | None) -> Path:
    """--data-dir, then $DATADIET_DATA (itself or its fashion-mnist/ folder), then Debian's package."""
    candidates = []
    if data_dir:
        candidates.append(Path(data_dir))
    elif os.environ.get("DATADIET_DATA"):
        env = Path(os.environ["DATADIET_DATA"])
        candidates += [env / "fashion-mnist", env]
    else:
        candidates.append(DEBIAN_FASHION_MNIST)
    for c in candidates:
        if c.is_dir() and _find(c, IDX_FILES["x_train"]):
            return c
    return candidates[-1]


FASHION_HINT = (
    "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass "
    "--data-dir / set DATADIET_DATA to a folder with the four IDX files"
)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except FileNotFoundError:
        raise DataDietError(f"CIFAR file not found: {path}") from None
    except Exception as e:  # corrupt pickles raise many types
        raise DataDietError(f"corrupt CIFAR file {path}: {e}") from None


def _key(d: dict, name: str):
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    raise DataDietError(f"CIFAR batch lacks key {name!r}")


def load_cifar(data_dir: str | None, *, fine: bool) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    name = "cifar100" if fine else "cifar10"
    folder = "cifar-100-python" if fine else "cifar-10-batches-py"
    if not data_dir:
        raise DataDietError(f"{name} needs --data-dir pointing at the extracted {folder} folder")
    d = Path(data_dir)
    if (d / folder).is_dir():
        d = d / folder
    if not d.is_dir():
        raise DataDietError(f"{name}: data directory {d} does not exist")
    if fine:
        train_files, test_files, meta_file, label_key, names_key = (
            ["train"],
            ["test"],
            "meta",
            "fine_labels",
            "fine_label_names",
        )
    else:
        train_files = [f"data_batch_{i}" for i in range(1, 6)]
        test_files, meta_file, label_key, names_key = ["test_batch"], "batches.meta", "labels", "label_names"

    def read(files):
        xs, ys = [], []
        for f in files:
            b = _unpickle(d / f)
            x = np.asarray(_key(b, "data"), dtype=np.uint8)
            y = np.asarray(_key(b, label_key), dtype=np.int64)
            if x.ndim != 2 or x.shape[1] != 3072 or x.shape[0] != y.shape[0]:
                raise DataDietError(f"corrupt CIFAR file {d / f}: data has shape {x.shape}")
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)

    x_train, y_train = read(train_files)
    x_test, y_test = read(test_files)
    meta = _unpickle(d / meta_file)
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in _key(meta, names_key))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, names


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


NPZ_OPTIONAL = ("class_names", "g_train", "g_test", "group_names")


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Read x_train, y_train, x_test, y_test (and optional 1-D class_names; g_train, g_test and
    group_names for groups) from an .npz archive.

    Never unpickles: an object-dtype array is refused. Every failure is a one-line DataDietError.
    """
    p = Path(path)
    if not p.is_file():
        raise DataDietError(f"npz file not found: {p}")
    try:
        is_zip = zipfile.is_zipfile(p)
    except OSError as e:
        raise DataDietError(f"cannot read npz file {p}: {e.strerror or _one_line(e)}") from None
    if not is_zip:
        raise DataDietError(f"corrupt npz file {p}: not a zip archive as written by numpy.savez")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise DataDietError(f"npz file {p} lacks arrays {', '.join(missing)} (needs {', '.join(NPZ_KEYS)})")
            out = {}
            for k in NPZ_KEYS + tuple(k for k in NPZ_OPTIONAL if k in z.files):
                try:
                    out[k] = np.asarray(z[k])
                except ValueError as e:
                    if "allow_pickle" in str(e):
                        raise DataDietError(
                            f"npz file {p}: array {k} has dtype object (pickled Python objects), which is never "
                            f"loaded; save numeric arrays"
                        ) from None
                    raise DataDietError(f"corrupt npz file {p}: array {k}: {_one_line(e)}") from None
            for k in ("class_names", "group_names"):
                if k in out:
                    names = out[k]
                    if names.ndim != 1:
                        raise DataDietError(f"npz file {p}: {k} must be 1-D, got shape {names.shape}")
                    out[k] = names.astype(str)
            if ("g_train" in out) != ("g_test" in out):
                raise DataDietError(f"npz file {p}: groups need both g_train and g_test")
            return out
    except DataDietError:
        raise
    except Exception as e:
        raise DataDietError(f"corrupt npz file {p}: {_one_line(e)}") from None


def load_digits_arrays(*, test_fraction: float = 0.25, seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32)  # (1797, 8, 8), values 0..16
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    return {"x_train": x[tr], "y_train": y[tr], "x_test": x[te], "y_test": y[te]}


MNIST1D_TEST_SEED_OFFSET = 1  # a larger test set is generated with the seed after the training set's


def _make_mnist1d(samples: int, seed: int) -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = samples
    args.seed = seed
    state = np.random.get_state()
    try:
        return make_dataset(args)
    finally:
        np.random.set_state(state)


def load_mnist1d_arrays(*, samples: int, seed: int = 42, test_samples: int | None = None) -> dict[str, np.ndarray]:
    """MNIST-1D as the package makes it (``samples`` examples, 80/20 train/test). ``test_samples``
    replaces the test part by that many new examples, generated from the same templates with seed
    ``seed + 1`` (both parts of that second draw), so a test set can be as large as the claims need
    while the training set stays the one ``samples`` gives."""
    d = _make_mnist1d(samples, seed)
    x_test, y_test = d["x_test"], d["y_test"]
    if test_samples is not None:
        t = _make_mnist1d(test_samples, seed + MNIST1D_TEST_SEED_OFFSET)
        x_test, y_test = np.concatenate([t["x"], t["x_test"]]), np.concatenate([t["y"], t["y_test"]])
    return {
        "x_train": d["x"].astype(np.float32),
        "y_train": d["y"].astype(np.int64),
        "x_test": x_test.astype(np.float32),
        "y_test": y_test.astype(np.int64),
    }


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def list_image_split(root: Path, split: str, classes: list[str] | None):
    """The image files of ``root/split/<class>/`` (classes sorted by name unless given, files by name)
    with their labels and the classes: the order every folder dataset's examples have."""
    folder = root / split
    if not folder.is_dir():
        raise DataDietError(f"image folder {root} has no {split}/ folder (needs {split}/<class>/<image files>)")
    found = sorted(d.name for d in folder.iterdir() if d.is_dir())
    classes = classes or found
    if len(classes) < 2:
        raise DataDietError(f"image folder {folder} must hold at least 2 class folders, got {len(classes)}")
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataDietError(f"{folder} has class folder(s) {', '.join(unknown)} that train/ does not have")
    paths, labels = [], []
    for k, c in enumerate(classes):
        for f in sorted(p for p in (folder / c).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            paths.append(f)
            labels.append(k)
    if not paths:
        raise DataDietError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths, labels, classes


def read_rgb(f: Path) -> np.ndarray:
    """One image file as an (H, W, 3) uint8 array; an unreadable one is a one-line DataDietError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(f) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as e:
        raise DataDietError(f"cannot read image {f}: {_one_line(e)}") from None


def _image_split(root: Path, split: str, classes: list[str] | None):
    paths, labels, classes = list_image_split(root, split, classes)
    folder = root / split
    images = [read_rgb(f) for f in paths]
    files = [str(f.relative_to(root)) for f in paths]
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise DataDietError(
            f"images in {folder} differ in size ({', '.join(map(str, sorted(shapes)[:3]))}); resize them"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64), files, classes


def load_image_folder(path: str) -> dict:
    """A folder of images, ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (class folders sorted by
    name). Greyscale when every image is; ``files_train`` lists each training example's file."""
    root = Path(path)
    if not root.is_dir():
        raise DataDietError(f"image folder not found: {root}")
    xtr, ytr, ftr, classes = _image_split(root, "train", None)
    xte, yte, _, _ = _image_split(root, "test", classes)
    grey = all((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all() for a in (xtr, xte))
    if grey:
        xtr, xte = xtr[..., 0], xte[..., 0]
    return {
        "x_train": xtr,
        "y_train": ytr,
        "x_test": xte,
        "y_test": yte,
        "class_names": np.asarray(classes),
        "files_train": np.asarray(ftr),
    }

"""Malformed input never escapes: property-based checks of the bad-input contract.

The contract (src/datadiet/errors.py): every bad input raises ``DataDietError`` (a ``ValueError``)
with a one-line message; the CLI prints ``datadiet: error: <msg>`` on stderr, exits 2, never shows a
traceback and never leaves a half-written result.

Strategies draw a healthy input first and then, about half of the time, break it in one named way
(a "fault"). Broken inputs must be refused with the one-line error; healthy ones must go through, so
the tests are not vacuous (each test also asserts that enough of both kinds were drawn). ``pytest -s``
prints how many cases ran.
"""

from __future__ import annotations

import itertools
import math
import struct
import tempfile
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from datadiet.data import from_arrays, load_dataset
from datadiet.errors import DataDietError
from datadiet.experiments import read_score_table
from datadiet.selection import STRATEGIES, select
from tests.cli.conftest import run_cli

# database=None: no .hypothesis/ folder in the working tree; deadline=None: the first call imports lazily
API = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
COLLECT = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TRIED: Counter = Counter()  # "<area>:valid" / "<area>:bad" / "cli" -> cases run
_ids = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    total = sum(TRIED.values())
    detail = ", ".join(f"{k}={v}" for k, v in sorted(TRIED.items()))
    print(f"\ntest_malformed_inputs: {total} cases tried ({detail})")


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="datadiet_malformed_") as d:
        yield Path(d)


def _fresh(workdir: Path, suffix: str) -> Path:
    return workdir / f"case{next(_ids)}{suffix}"


def assert_one_line_error(exc: BaseException, context) -> None:
    assert isinstance(exc, DataDietError) and isinstance(exc, ValueError), (context, exc)
    msg = str(exc)
    assert msg.strip() and "\n" not in msg and "\r" not in msg, (context, msg)


def _expect(fn, valid: bool, context):
    """Run fn; a valid case must not raise, a bad one must raise a one-line DataDietError."""
    if valid:
        return fn()
    try:
        fn()
    except Exception as e:
        assert_one_line_error(e, context)
        return None
    pytest.fail(f"malformed input accepted: {context}")


def _check_balance(area: str, min_each: int) -> None:
    v, b = TRIED[f"{area}:valid"], TRIED[f"{area}:bad"]
    assert v >= min_each and b >= min_each, f"{area}: only {v} valid and {b} malformed cases were drawn"


# --------------------------------------------------------------------------------------------------
# datasets: from_arrays and load_dataset("npz:PATH")

SHAPES = [(6,), (5, 4), (1, 4, 4), (3, 4, 4), (4, 4, 3), (4, 4, 1)]
X_DTYPES = ["float32", "float64", "float16", "uint8", "int16"]
Y_DTYPES = ["int64", "int32", "uint8", "float64"]  # integral float labels are fine
ARRAY_FAULTS = [
    "nan_x_train",
    "inf_x_test",
    "overflow_float32",
    "empty_test",
    "empty_train",
    "one_train",
    "ndim1",
    "ndim5",
    "len_mismatch_train",
    "len_mismatch_test",
    "feature_mismatch",
    "float_labels",
    "nan_labels",
    "negative_label",
    "unseen_test_label",
    "single_class",
    "bool_labels",
    "bool_x",
    "complex_x",
    "string_x",
    "labels_2d",
    "huge_label",
    "zero_features",
]
API_ONLY_FAULTS = ["ragged_x"]
NPZ_FAULTS = [
    "missing_key",
    "random_bytes",
    "truncated",
    "empty_file",
    "corrupt_member",
    "object_x",
    "scalar_class_names",
]


def _make_x(rng, shape, dtype):
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype == "int16":
        return rng.integers(-1000, 1000, shape).astype(np.int16)
    return rng.normal(0, 3, shape).astype(dtype)


def _break_arrays(a: dict, fault: str, draw, rng) -> dict:
    a = dict(a)
    ntr, nte = len(a["y_train"]), len(a["y_test"])
    if fault == "nan_x_train":
        x = a["x_train"].astype(np.float64)
        x.flat[draw(st.integers(0, x.size - 1))] = np.nan
        a["x_train"] = x
    elif fault == "inf_x_test":
        x = a["x_test"].astype(np.float64)
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.inf, -np.inf]))
        a["x_test"] = x
    elif fault == "overflow_float32":
        x = a["x_train"].astype(np.float64)
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.floats(1e39, 1e300)) * draw(st.sampled_from([1, -1]))
        a["x_train"] = x
    elif fault == "empty_test":
        a["x_test"], a["y_test"] = a["x_test"][:0], a["y_test"][:0]
    elif fault == "empty_train":
        a["x_train"], a["y_train"] = a["x_train"][:0], a["y_train"][:0]
    elif fault == "one_train":
        a["x_train"], a["y_train"] = a["x_train"][:1], a["y_train"][:1]
    elif fault == "ndim1":
        a["x_train"] = a["x_train"].reshape(ntr, -1)[:, 0]
    elif fault == "ndim5":
        a["x_train"] = a["x_train"].reshape(ntr, 1, 1, 1, -1)
    elif fault == "len_mismatch_train":
        a["y_train"] = np.concatenate([a["y_train"], a["y_train"][:1]])
    elif fault == "len_mismatch_test":
        a["y_test"] = a["y_test"][:-1]
    elif fault == "feature_mismatch":
        x = a["x_test"]
        a["x_test"] = np.concatenate([x, x[..., :1]], axis=-1)
    elif fault == "float_labels":
        y = a["y_train"].astype(np.float64)
        y[draw(st.integers(0, ntr - 1))] += draw(st.sampled_from([0.5, 0.25, 1e-3]))
        a["y_train"] = y
    elif fault == "nan_labels":
        y = a["y_test"].astype(np.float64)
        y[draw(st.integers(0, nte - 1))] = np.nan
        a["y_test"] = y
    elif fault == "negative_label":
        y = a["y_train"].astype(np.int64)
        y[draw(st.integers(0, ntr - 1))] = -draw(st.integers(1, 10**6))
        a["y_train"] = y
    elif fault == "unseen_test_label":
        y = a["y_test"].astype(np.int64)
        y[draw(st.integers(0, nte - 1))] = int(a["y_train"].max()) + draw(st.integers(1, 50))
        a["y_test"] = y
    elif fault == "single_class":
        a["y_train"] = np.zeros(ntr, np.int64)
        a["y_test"] = np.zeros(nte, np.int64)
    elif fault == "bool_labels":
        a["y_train"] = a["y_train"].astype(np.int64) % 2 == 1
        a["y_test"] = a["y_test"].astype(np.int64) % 2 == 1
    elif fault == "bool_x":
        a["x_train"], a["x_test"] = a["x_train"] > 0, a["x_test"] > 0
    elif fault == "complex_x":
        a["x_train"], a["x_test"] = a["x_train"].astype(np.complex64), a["x_test"].astype(np.complex64)
    elif fault == "string_x":
        a["x_train"], a["x_test"] = a["x_train"].astype(str), a["x_test"].astype(str)
    elif fault == "labels_2d":
        a["y_train"] = a["y_train"][:, None]
    elif fault == "huge_label":
        y = a["y_train"].astype(np.int64)
        y[draw(st.integers(0, ntr - 1))] = draw(st.integers(100_000, 2**62))
        a["y_train"] = y
    elif fault == "zero_features":
        a["x_train"], a["x_test"] = np.zeros((ntr, 0)), np.zeros((nte, 0))
    elif fault == "ragged_x":
        rows = a["x_train"].reshape(ntr, -1).tolist()
        rows[draw(st.integers(0, ntr - 1))].append(0.0)
        a["x_train"] = rows
    else:  # pragma: no cover
        raise AssertionError(fault)
    return a


def _corrupt_member(raw: bytes) -> bytes:
    """Flip the last data byte of the archive's first member: its CRC-32 no longer matches."""
    import io

    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        info = z.infolist()[0]
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    pos = info.header_offset + 30 + name_len + extra_len + info.compress_size - 1
    return raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1 :]


@st.composite
def dataset_cases(draw, *, only_bad=False, npz_only=False):
    """(description, loader) where loader() builds the Dataset; description holds 'fault'."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = draw(st.sampled_from(SHAPES))
    x_dtype, y_dtype = draw(st.sampled_from(X_DTYPES)), draw(st.sampled_from(Y_DTYPES))
    ntr, nte, k = draw(st.integers(2, 24)), draw(st.integers(1, 8)), draw(st.integers(2, 5))
    y_train = rng.integers(0, k, ntr)
    y_train[:2] = [0, 1]  # at least two classes
    y_test = rng.choice(y_train, nte)  # every test label occurs in training
    a = {
        "x_train": _make_x(rng, (ntr, *shape), x_dtype),
        "y_train": y_train.astype(y_dtype),
        "x_test": _make_x(rng, (nte, *shape), x_dtype),
        "y_test": y_test.astype(y_dtype),
    }
    route = "npz" if npz_only else draw(st.sampled_from(["arrays", "npz"]))
    valid = False if only_bad else draw(st.booleans())
    fault = None
    if not valid:
        faults = ARRAY_FAULTS + (NPZ_FAULTS if route == "npz" else API_ONLY_FAULTS)
        fault = draw(st.sampled_from(faults))
        if fault not in NPZ_FAULTS:
            a = _break_arrays(a, fault, draw, rng)
    desc = {
        "fault": fault,
        "route": route,
        "shape": shape,
        "x_dtype": x_dtype,
        "y_dtype": y_dtype,
        "n_train": ntr,
        "n_test": nte,
    }
    if route == "arrays":
        return desc, a

    def write(path: Path) -> Path:
        arrays = dict(a)
        if fault == "missing_key":
            del arrays[draw_key]
        if fault == "object_x":
            arrays["x_train"] = np.array([[1.0, "a", None]] * ntr, dtype=object)
        if fault == "scalar_class_names":
            arrays["class_names"] = np.array("one name")
        np.savez(path, **arrays)
        raw = path.read_bytes()
        if fault == "random_bytes":
            path.write_bytes(rng.bytes(int(rng.integers(1, 2000))))
        elif fault == "truncated":
            path.write_bytes(raw[: int(len(raw) * cut)])
        elif fault == "empty_file":
            path.write_bytes(b"")
        elif fault == "corrupt_member":
            path.write_bytes(_corrupt_member(raw))
        return path

    draw_key = draw(st.sampled_from(["x_train", "y_train", "x_test", "y_test"])) if fault == "missing_key" else None
    cut = draw(st.floats(0.0, 0.95)) if fault == "truncated" else None
    return desc, write


def _load(case, workdir: Path):
    desc, payload = case
    if desc["route"] == "arrays":
        return lambda: from_arrays("h", **payload)
    path = payload(_fresh(workdir, ".npz"))
    return lambda: load_dataset(f"npz:{path}")


def test_datasets_malformed_arrays_and_npz_files_are_refused_in_one_line(workdir):
    @API
    @given(case=dataset_cases())
    def check(case):
        desc, _ = case
        valid = desc["fault"] is None
        TRIED[f"dataset:{'valid' if valid else 'bad'}"] += 1
        ds = _expect(_load(case, workdir), valid, desc)
        if valid:
            assert ds.num_train == desc["n_train"] and ds.x_test.shape[0] == desc["n_test"], desc
            assert torch.isfinite(ds.x_train).all() and torch.isfinite(ds.x_test).all(), desc
            assert set(ds.y_test.tolist()) <= set(ds.y_train.tolist()) and ds.num_classes >= 2, desc

    check()
    _check_balance("dataset", 40)


# --------------------------------------------------------------------------------------------------
# selection.select

SELECT_FAULTS = [
    "nan",
    "inf",
    "neg_inf",
    "ndim2",
    "ndim0",
    "empty",
    "bool",
    "strings",
    "complex",
    "objects",
    "keep_above_1",
    "keep_below_0",
    "keep_nan",
    "keep_inf",
    "keep_neg_count",
    "keep_count_above_n",
    "keep_bool",
    "keep_str",
    "keep_none",
    "unknown_strategy",
    "negative_seed",
    "zero_bins",
]


@st.composite
def select_cases(draw):
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ties = draw(st.booleans())
    scores = (rng.integers(0, 3, n) if ties else rng.normal(size=n)).astype(
        draw(st.sampled_from(["float64", "float32", "int64"]))
    )
    kw = {
        "keep": draw(st.one_of(st.floats(0.0, 1.0), st.integers(0, n))),
        "strategy": draw(st.sampled_from(STRATEGIES)),
        "seed": draw(st.integers(0, 2**31)),
    }
    fault = None if draw(st.booleans()) else draw(st.sampled_from(SELECT_FAULTS))
    s = scores
    if fault in ("nan", "inf", "neg_inf"):
        s = scores.astype(np.float64)
        s[draw(st.integers(0, n - 1))] = {"nan": np.nan, "inf": np.inf, "neg_inf": -np.inf}[fault]
    elif fault == "ndim2":
        s = scores.reshape(n, 1) if draw(st.booleans()) else np.stack([scores, scores])
    elif fault == "ndim0":
        s = np.float64(scores[0])
    elif fault == "empty":
        s = scores[:0]
    elif fault == "bool":
        s = scores > 0
    elif fault == "strings":
        s = scores.astype(str) if draw(st.booleans()) else [str(v) for v in scores]
    elif fault == "complex":
        s = scores.astype(np.complex128)
    elif fault == "objects":
        s = np.array([None] * n, dtype=object)
    elif fault == "keep_above_1":
        kw["keep"] = draw(st.floats(1.0, 1e9, exclude_min=True))
    elif fault == "keep_below_0":
        kw["keep"] = -draw(st.floats(0.0, 1e9, exclude_min=True))
    elif fault == "keep_nan":
        kw["keep"] = float("nan")
    elif fault == "keep_inf":
        kw["keep"] = draw(st.sampled_from([math.inf, -math.inf]))
    elif fault == "keep_neg_count":
        kw["keep"] = -draw(st.integers(1, 10**9))
    elif fault == "keep_count_above_n":
        kw["keep"] = n + draw(st.integers(1, 10**9))
    elif fault == "keep_bool":
        kw["keep"] = draw(st.booleans())
    elif fault == "keep_str":
        kw["keep"] = draw(st.sampled_from(["0.5", "half", ""]))
    elif fault == "keep_none":
        kw["keep"] = None
    elif fault == "unknown_strategy":
        kw["strategy"] = draw(st.text(min_size=0, max_size=12).filter(lambda t: t not in STRATEGIES))
    elif fault == "negative_seed":
        kw["seed"] = -draw(st.integers(1, 10**6))
    elif fault == "zero_bins":
        kw["bins"] = 0
    return {"fault": fault, "n": n, **{k: v for k, v in kw.items() if k != "seed"}}, s, kw


def test_select_refuses_malformed_scores_and_options_in_one_line():
    @API
    @given(case=select_cases())
    def check(case):
        desc, scores, kw = case
        valid = desc["fault"] is None
        TRIED[f"select:{'valid' if valid else 'bad'}"] += 1
        idx = _expect(lambda: select(scores, **kw), valid, desc)
        if valid:
            n, keep = desc["n"], kw["keep"]
            expected = keep if isinstance(keep, int) else math.floor(keep * n + 0.5)
            assert idx.dtype == np.int64 and len(idx) == expected, desc
            assert np.all(np.diff(idx) > 0) and (idx.size == 0 or (idx[0] >= 0 and idx[-1] < n)), desc

    check()
    _check_balance("select", 40)


# --------------------------------------------------------------------------------------------------
# score tables: read_score_table, then the selection `datadiet prune` makes from it

TABLE_FAULTS = [
    "missing_columns",
    "index_shifted",
    "index_reversed",
    "index_duplicated",
    "nan_score",
    "inf_score",
    "string_scores",
    "bool_scores",
    "non_integer_labels",
    "string_labels",
    "no_rows",
    "random_bytes",
    "truncated",
    "empty_file",
]


@st.composite
def table_cases(draw, *, only_bad=False):
    n = draw(st.integers(2, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cols = {
        "index": np.arange(n),
        "label": rng.integers(0, 4, n),
        "score": rng.normal(size=n),
        "seed_std": rng.random(n),
    }
    fault = draw(st.sampled_from(TABLE_FAULTS)) if only_bad or not draw(st.booleans()) else None
    extra = {}
    if fault == "missing_columns":
        for c in draw(st.lists(st.sampled_from(["index", "label", "score"]), min_size=1, max_size=3, unique=True)):
            del cols[c]
    elif fault == "index_shifted":
        cols["index"] = cols["index"] + draw(st.integers(1, 5))
    elif fault == "index_reversed":
        cols["index"] = cols["index"][::-1].copy()
    elif fault == "index_duplicated":
        cols["index"] = np.r_[0, np.arange(n - 1)]
    elif fault in ("nan_score", "inf_score"):
        cols["score"][draw(st.integers(0, n - 1))] = np.nan if fault == "nan_score" else -np.inf
    elif fault == "string_scores":
        cols["score"] = cols["score"].astype(str)
    elif fault == "bool_scores":
        cols["score"] = cols["score"] > 0
    elif fault == "non_integer_labels":
        cols["label"] = cols["label"] + 0.5
    elif fault == "string_labels":
        cols["label"] = np.array([f"c{v}" for v in cols["label"]])
    elif fault == "no_rows":
        cols = {k: v[:0] for k, v in cols.items()}
    elif fault == "truncated":
        extra["cut"] = draw(st.floats(0.0, 0.95))
    elif fault == "random_bytes":
        extra["bytes"] = rng.bytes(int(rng.integers(1, 2000)))

    def write(path: Path) -> Path:
        pd.DataFrame(cols).to_parquet(path, index=False)
        if fault == "truncated":
            raw = path.read_bytes()
            path.write_bytes(raw[: int(len(raw) * extra["cut"])])
        elif fault == "random_bytes":
            path.write_bytes(extra["bytes"])
        elif fault == "empty_file":
            path.write_bytes(b"")
        return path

    return {"fault": fault, "n": n}, write


def _consume_table(path: Path) -> np.ndarray:
    """What `datadiet prune TABLE --keep 0.5` does with a table before writing anything."""
    table = read_score_table(path)
    return select(table["score"].to_numpy(), keep=0.5, labels=table["label"].to_numpy())


def test_score_tables_malformed_are_refused_in_one_line(workdir):
    @API
    @given(case=table_cases())
    def check(case):
        desc, write = case
        valid = desc["fault"] is None
        TRIED[f"table:{'valid' if valid else 'bad'}"] += 1
        folder = _fresh(workdir, "")
        folder.mkdir()
        path = write(folder / "scores.parquet")
        if desc["fault"] in (
            "missing_columns",
            "index_shifted",
            "index_reversed",
            "index_duplicated",
            "random_bytes",
            "truncated",
            "empty_file",
        ):
            # read_score_table itself must refuse these
            _expect(lambda: read_score_table(path), False, desc)
        idx = _expect(lambda: _consume_table(path), valid, desc)
        if valid:
            assert len(idx) == math.floor(0.5 * desc["n"] + 0.5), desc

    check()
    _check_balance("table", 40)


# --------------------------------------------------------------------------------------------------
# the CLI, one subprocess per case (slow: a handful of cases, run two at a time)

RESULT_NAMES = {"result.json", "model.pt", "kept.npy", "state.pt", "config.json"}


def _run_cli(args, cwd: Path):
    return run_cli(*args, cwd=cwd, timeout=180, env={"OMP_NUM_THREADS": "1"})


def _assert_refused(proc, out: Path, context) -> None:
    TRIED["cli"] += 1
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (context, proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, (context, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("datadiet: error: ") and len(lines[0]) > len("datadiet: error: "), (
        context,
        proc.stderr,
    )
    left = [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else []
    assert not [p for p in left if p.name in RESULT_NAMES or p.suffix == ".tmp"], (context, left)


def _collect(strategy, n: int) -> list:
    """n distinct draws of a strategy (hypothesis picks them; derandomized so the CLI cost stays fixed)."""
    seen: list = []

    @COLLECT
    @given(case=strategy)
    def gather(case):
        if len(seen) < n and case[0]["fault"] not in {c[0]["fault"] for c in seen}:
            seen.append(case)

    gather()
    return seen


def test_cli_refuses_generated_malformed_files(workdir):
    npz_cases = _collect(dataset_cases(only_bad=True, npz_only=True), 6)
    table_cases_ = _collect(table_cases(only_bad=True), 4)
    jobs = []
    for desc, write in npz_cases:
        path = write(_fresh(workdir, ".npz"))
        out = _fresh(workdir, "_out")
        jobs.append((desc, ["train", f"npz:{path}", "--epochs", "1", "--model", "mlp", "--out", out], out))
    for desc, write in table_cases_:
        folder = _fresh(workdir, "")  # no summary.json beside the table: prune needs no dataset when told
        folder.mkdir()
        path = write(folder / "scores.parquet")
        out = _fresh(workdir, "_out")
        jobs.append((desc, ["prune", path, "--keep", "0.5", "--out", out / "kept.npy", "--unverified-tables"], out))
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda j: _run_cli(j[1], workdir), jobs))
    for (desc, args, out), proc in zip(jobs, procs):
        _assert_refused(proc, out, (desc, args))
    assert len(jobs) >= 8, f"only {len(jobs)} CLI cases were generated"
    print(
        f"\nCLI: {len(jobs)} generated malformed files refused "
        f"({', '.join(sorted({str(d['fault']) for d, _, _ in jobs}))})"
    )


def _healthy_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(24) % 3
    np.savez(path, x_train=rng.normal(size=(24, 5)), y_train=y, x_test=rng.normal(size=(6, 5)), y_test=y[:6])
    return path


def test_cli_regressions_for_the_three_escapes(workdir):
    """Issue item 12: empty test set, test labels unseen in training, and an --out that cannot be written."""
    rng = np.random.default_rng(1)
    y = np.arange(30) % 5
    empty = _fresh(workdir, ".npz")
    np.savez(empty, x_train=rng.normal(size=(30, 4)), y_train=y, x_test=np.zeros((0, 4)), y_test=np.zeros(0, int))
    unseen = _fresh(workdir, ".npz")
    np.savez(unseen, x_train=rng.normal(size=(30, 4)), y_train=y, x_test=rng.normal(size=(3, 4)), y_test=[0, 7, 4])
    healthy = _healthy_npz(_fresh(workdir, ".npz"))
    blocker = _fresh(workdir, ".file")
    blocker.write_text("a regular file")
    table_dir = _fresh(workdir, "")
    table_dir.mkdir()
    table = table_dir / "scores.parquet"
    pd.DataFrame({"index": np.arange(10), "label": np.arange(10) % 2, "score": rng.normal(size=10)}).to_parquet(table)
    outs = [_fresh(workdir, "_out") for _ in range(2)]
    jobs = [
        (
            ["train", f"npz:{empty}", "--epochs", "1", "--model", "mlp", "--out", outs[0]],
            outs[0],
            "x_test must hold at least 1 example, got 0",
        ),
        (
            ["train", f"npz:{unseen}", "--epochs", "1", "--model", "mlp", "--out", outs[1]],
            outs[1],
            "y_test holds label(s) 7 that never occur in y_train (labels 0, 1, 2, 3, 4)",
        ),
        (
            ["train", f"npz:{healthy}", "--epochs", "1", "--model", "mlp", "--out", blocker / "runs"],
            blocker / "runs",
            f"cannot write to {blocker}/runs/train_",
        ),
        (
            ["prune", table, "--keep", "0.5", "--out", blocker / "kept.npy", "--unverified-tables"],
            blocker,
            f"cannot write to {blocker}/kept.npy",
        ),
    ]
    if Path("/proc/self").is_dir():
        jobs.append(
            (
                ["train", f"npz:{healthy}", "--epochs", "1", "--model", "mlp", "--out", "/proc/datadiet_nope"],
                Path("/proc/datadiet_nope"),
                "cannot write to /proc/datadiet_nope/train_",
            )
        )
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda j: _run_cli(j[0], workdir), jobs))
    for (args, out, message), proc in zip(jobs, procs):
        _assert_refused(proc, out, args)
        assert message in proc.stderr, (args, proc.stderr)
    # and the healthy prune beside them works, so the refusals above are not vacuous
    ok = _run_cli(["prune", table, "--keep", "0.5", "--out", outs[0] / "kept.npy", "--unverified-tables"], workdir)
    assert ok.returncode == 0 and (outs[0] / "kept.npy").is_file(), ok.stderr

import json
from pathlib import Path

import pandas as pd
import pytest

from datadiet.errors import DataDietError
from datadiet.runs import (
    RunDir,
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    config_hash,
    read_json,
)
from datadiet.training import TrainConfig


def test_config_hash_is_stable_and_sensitive():
    a = TrainConfig(epochs=3)
    assert config_hash(a) == config_hash(TrainConfig(epochs=3))
    assert config_hash(a) != config_hash(TrainConfig(epochs=4))


def test_config_json_roundtrip(tmp_path):
    cfg = TrainConfig(model="mlp", epochs=2, lr=0.1, steps=17)
    rd = RunDir(tmp_path, "train", {"train": cfg}).create()
    stored = read_json(rd.file("config.json"))
    assert TrainConfig.from_dict(stored["train"]) == cfg
    assert rd.path.name == f"train_{config_hash({'train': cfg})}"
    RunDir(tmp_path, "train", {"train": cfg}).create()  # same config: fine


def test_rundir_refuses_foreign_config(tmp_path):
    rd = RunDir(tmp_path, "x", {"a": 1}).create()
    atomic_write_json(rd.file("config.json"), {"a": 2})
    with pytest.raises(ValueError, match="different config.json"):
        RunDir(tmp_path, "x", {"a": 1}).create()


def test_atomic_writes_leave_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": [1, 2]})
    atomic_write_parquet(tmp_path / "t.parquet", pd.DataFrame({"a": [1, 2]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "t.parquet"]
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [1, 2]}


def test_read_json_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        read_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt JSON"):
        read_json(tmp_path / "bad.json")


def test_unknown_train_option():
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epochs": 1, "colour": "red"})


def _unwritable_roots(tmp_path):
    """Folders that cannot be written even by root: one under a regular file, and /proc when present."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    roots = [blocker / "sub"]
    if Path("/proc/self").is_dir():
        roots.append(Path("/proc/datadiet_nope"))
    return roots


def test_rundir_create_on_unwritable_out_is_one_line_error(tmp_path):
    for root in _unwritable_roots(tmp_path):
        with pytest.raises(DataDietError, match=rf"^cannot write to {root}/x_[0-9a-f]+: ") as e:
            RunDir(root, "x", {"a": 1}).create()
        assert "\n" not in str(e.value)


def test_atomic_writers_turn_oserror_into_one_line_error(tmp_path):
    import numpy as np

    for root in _unwritable_roots(tmp_path):
        for write in (lambda p: atomic_write_bytes(p, b"x"), lambda p: atomic_write_json(p, {"a": 1}),
                      lambda p: atomic_save_npy(p, np.arange(3)),
                      lambda p: atomic_write_parquet(p, pd.DataFrame({"a": [1]}))):
            with pytest.raises(DataDietError, match=f"^cannot write to {root}/f: "):
                write(root / "f")
    # a folder in the way of the file: the temp file is cleaned up, nothing else appears
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").mkdir()
    with pytest.raises(DataDietError, match="cannot write to .*: Is a directory"):
        atomic_write_bytes(tmp_path / "d" / "f", b"x")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["f"]


def test_rundir_with_config_json_that_is_a_folder(tmp_path):
    rd = RunDir(tmp_path, "x", {"a": 1})
    (rd.path / "config.json").mkdir(parents=True)
    with pytest.raises(DataDietError, match="cannot read .*config.json: Is a directory"):
        rd.create()


def test_cli_train_with_unwritable_out_exits_2_with_one_line(tmp_path, capsys):
    import numpy as np

    from datadiet.cli.main import main

    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    data = tmp_path / "d.npz"
    np.savez(data, x_train=rng.normal(size=(20, 4)), y_train=y, x_test=rng.normal(size=(6, 4)), y_test=y[:6])
    for root in _unwritable_roots(tmp_path):
        rc = main(["train", f"npz:{data}", "--model", "mlp", "--epochs", "1", "--out", str(root)])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith(f"datadiet: error: cannot write to {root}"), err


def test_cli_main_catches_a_stray_oserror(monkeypatch, capsys):
    import datadiet.cli.main as cli

    def boom(*a, **k):
        raise PermissionError(13, "Permission denied", "/somewhere/result.json")

    monkeypatch.setattr(cli, "app", boom)
    assert cli.main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert err == "datadiet: error: /somewhere/result.json: Permission denied\n"


def test_written_files_get_the_usual_mode_not_0600(tmp_path):
    import os
    import stat

    from datadiet.runs import atomic_write_json

    mask = os.umask(0o022)
    os.umask(mask)
    p = atomic_write_json(tmp_path / "r.json", {"a": 1})
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask

import json

import pandas as pd
import pytest

from datadiet.runs import RunDir, atomic_write_json, atomic_write_parquet, config_hash, read_json
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

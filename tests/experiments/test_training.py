"""Training in a run directory: the checkpointer that keeps the trainer pure."""

import pytest
import torch

from datadiet.errors import DataDietError
from datadiet.experiments import RunDirCheckpointer, train_in_run_dir
from datadiet.training import TrainConfig, train


class Evil:
    def __reduce__(self):  # unpickling this would run code
        return (print, ("pwned",))


def test_resume_state_is_loaded_weights_only(tmp_path):
    ck = RunDirCheckpointer(tmp_path)
    torch.save({"step": 1, "model": {}, "evil": Evil()}, ck.state_path)
    with pytest.raises(DataDietError, match="cannot resume from .*state.pt"):
        ck.load_state()


def test_corrupt_resume_state_is_a_one_line_error(tmp_path, tiny_images):
    ck = RunDirCheckpointer(tmp_path)
    ck.state_path.write_bytes(b"\x80\x02truncated")
    with pytest.raises(DataDietError, match="delete it to start over"):
        train(tiny_images, TrainConfig(model="mlp", epochs=1, batch_size=64), checkpointer=ck)


def test_checkpointer_round_trip_and_in_memory_default(tmp_path, tiny_images):
    cfg = TrainConfig(model="mlp", epochs=2, batch_size=64)
    ck = RunDirCheckpointer(tmp_path)
    on_disk = train(tiny_images, cfg, checkpointer=ck, checkpoint_steps=[0, 4])
    assert ck.load_state()["step"] == on_disk.steps == 8
    assert set(on_disk.checkpoints) == {0, 4} and ck.load_checkpoint(4) is not None
    in_memory = train(tiny_images, cfg, checkpoint_steps=[0, 4])  # no checkpointer: nothing written
    for a, b in zip(on_disk.model.parameters(), in_memory.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_finished_run_is_skipped_and_leaves_no_resume_state(tmp_path, tiny_images):
    cfg = TrainConfig(model="mlp", epochs=1, batch_size=64)
    first = train_in_run_dir(tiny_images, cfg, tmp_path)
    assert first["resumed"] == "new" and first["runtime"]["threads"] >= 1
    again = train_in_run_dir(tiny_images, cfg, tmp_path)
    assert again["resumed"] == "finished earlier" and again["test_accuracy"] == first["test_accuracy"]
    assert not list(tmp_path.glob("train_*/state.pt"))

"""Training checkpoints: atomic writes, keep-last-K, clear errors, RNG round trip."""

from __future__ import annotations

import errno
import os
import random
from pathlib import PurePosixPath

import numpy as np
import pytest
import torch

from avpet.errors import CheckpointError, OutputError
from avpet.pretrain import checkpoint as ckpt


def _state(step: int) -> dict:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": {"last_epoch": step},
        "data": {"epoch": 0, "batch": step},
        "rng": [ckpt.capture_rng()],
        "world_size": 1,
    }


def test_round_trip_keeps_every_entry(tmp_path):
    state = _state(3)
    path = ckpt.save_checkpoint(state, tmp_path, keep_last=2)
    assert path.name == "step_00000003.pt"
    loaded = ckpt.load_checkpoint(path)
    assert loaded["step"] == 3 and loaded["data"] == {"epoch": 0, "batch": 3}
    for key, value in state["model"].items():
        assert torch.equal(loaded["model"][key], value)
    assert loaded["optimizer"]["state"][0]["exp_avg"].shape == (2, 3)


def test_keeps_the_last_k_and_no_temporary_files(tmp_path):
    for step in (1, 2, 3, 4, 5):
        ckpt.save_checkpoint(_state(step), tmp_path, keep_last=3)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step_00000003.pt",
        "step_00000004.pt",
        "step_00000005.pt",
    ]
    assert sorted(os.listdir(tmp_path)) == [p.name for p in ckpt.list_checkpoints(tmp_path)]
    assert ckpt.latest_checkpoint(tmp_path).name == "step_00000005.pt"


def test_truncated_checkpoint_is_a_clear_error_and_the_previous_survives(tmp_path):
    ckpt.save_checkpoint(_state(1), tmp_path, keep_last=3)
    good = ckpt.save_checkpoint(_state(2), tmp_path, keep_last=3)
    bad = ckpt.checkpoint_path(tmp_path, 3)
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as info:
        ckpt.load_checkpoint(bad)
    assert info.value.path == str(bad)
    assert ckpt.load_checkpoint(good)["step"] == 2


def test_garbage_missing_and_foreign_files_are_checkpoint_errors(tmp_path):
    garbage = tmp_path / "step_00000001.pt"
    garbage.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        ckpt.load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        ckpt.load_checkpoint(tmp_path / "step_00000009.pt")
    foreign = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="missing"):
        ckpt.load_checkpoint(foreign)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "step_00000001.pt"
    torch.save({**_state(1), "extra": PurePosixPath("x")}, path)  # unpickling needs a global
    with pytest.raises(CheckpointError):
        ckpt.load_checkpoint(path)


def test_a_crash_while_writing_leaves_the_previous_checkpoints(tmp_path, monkeypatch):
    ckpt.save_checkpoint(_state(1), tmp_path, keep_last=3)

    def crash(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OutputError, match="step_00000002.pt: cannot write .No space left"):
        ckpt.save_checkpoint(_state(2), tmp_path, keep_last=3)
    assert os.listdir(tmp_path) == ["step_00000001.pt"]


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    ckpt.save_checkpoint({**_state(1), "rng": [ckpt.capture_rng()]}, tmp_path, keep_last=1)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    ckpt.restore_rng(ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))["rng"][0])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]

"""The official checkpoint formats read without their frameworks: CRC-32C, TensorFlow's
TensorBundle (on a checkpoint TensorFlow wrote) and the restricted unpickler for MMV's pickles."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from avpet.convert.crc32c import TABLE, crc32c, unmask
from avpet.convert.safe_pickle import load_pickle
from avpet.convert.tensorbundle import TensorBundle
from avpet.errors import CheckpointError

VATT_RECORD = Path(__file__).parent / "fixtures" / "vatt_official"
KERNEL = "model/_base_layer/vid_backbone/_base/voxel_to_patch/kernel/.ATTRIBUTES/VARIABLE_VALUE"


def _bytewise(data: bytes) -> int:
    register = 0xFFFFFFFF
    for byte in data:
        register = int(TABLE[(register ^ byte) & 0xFF]) ^ (register >> 8)
    return register ^ 0xFFFFFFFF


def test_crc32c_matches_the_standard_and_a_bytewise_crc():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 3, 255, 1000, 4099):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c(data) == _bytewise(data), n
    masked = (((0x12345678 >> 15) | (0x12345678 << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    assert unmask(masked) == 0x12345678


def test_tensorbundle_reads_a_tensorflow_checkpoint():
    with TensorBundle(VATT_RECORD / "ckpt-1.index") as bundle:
        names = bundle.names()
        assert "_CHECKPOINTABLE_OBJECT_GRAPH" in names
        assert any("/.OPTIMIZER_SLOT/optimizer/m/" in n for n in names)
        kernel = bundle.read(KERNEL)
        assert kernel.shape == (2, 8, 8, 3, 8) and kernel.dtype == np.float32
        assert np.isfinite(kernel).all() and kernel.std() > 0
        step = bundle.read("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE")
        assert step.dtype == np.int64 and int(step) == 1
        with pytest.raises(CheckpointError, match="string tensor"):
            bundle.read("_CHECKPOINTABLE_OBJECT_GRAPH")


@pytest.fixture
def copy(tmp_path):
    for path in VATT_RECORD.glob("ckpt-1.*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_a_flipped_data_byte_fails_its_checksum(copy):
    entry = TensorBundle(copy / "ckpt-1").entries[KERNEL]
    data = copy / "ckpt-1.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entry.offset + 5] ^= 0x01
    data.write_bytes(bytes(raw))
    with TensorBundle(copy / "ckpt-1") as bundle, pytest.raises(CheckpointError, match="checksum"):
        bundle.read(KERNEL)


def test_truncated_missing_and_foreign_files_are_named(copy):
    data = copy / "ckpt-1.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    with TensorBundle(copy / "ckpt-1") as bundle, pytest.raises(CheckpointError, match="truncated"):
        bundle.read(KERNEL)
    data.unlink()
    with TensorBundle(copy / "ckpt-1") as bundle, pytest.raises(CheckpointError, match="missing"):
        bundle.read(KERNEL)
    index = copy / "ckpt-1.index"
    raw = index.read_bytes()
    index.write_bytes(raw[:-60])
    with pytest.raises(CheckpointError, match="ckpt-1.index"):
        TensorBundle(index)
    index.write_bytes(raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:])
    with pytest.raises(CheckpointError, match="checksum of the table block"):
        TensorBundle(index)
    index.write_bytes(b"not a checkpoint at all, just some text padding it out" * 2)
    with pytest.raises(CheckpointError, match="bad magic"):
        TensorBundle(index)
    with pytest.raises(CheckpointError, match="no such file"):
        TensorBundle(copy / "absent")


# ---- MMV pickles ----------------------------------------------------------------------------


class _FlatMapping(dict):
    """Pickles as haiku's 2020 FlatMapping does: the class called with a plain dict."""

    def __reduce__(self):
        return (type(self), (dict(self),))


@pytest.fixture
def haiku_names(monkeypatch):
    """A stand-in ``haiku._src.data_structures`` so the pickle names the real class path."""
    module = types.ModuleType("haiku._src.data_structures")
    _FlatMapping.__module__ = module.__name__
    _FlatMapping.__qualname__ = _FlatMapping.__name__ = "FlatMapping"
    module.FlatMapping = _FlatMapping
    for name in ("haiku", "haiku._src", "haiku._src.data_structures"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return _FlatMapping


def test_haiku_params_and_state_load_as_dicts_of_arrays(tmp_path, haiku_names):
    params = haiku_names(
        {"text_audio_video/~/video_module/conv1": haiku_names({"w": np.ones((2, 3), np.float32)})}
    )
    state = haiku_names({"bn/~/mean_ema": haiku_names({"average": np.zeros(4), "counter": 3})})
    path = tmp_path / "mmv.pkl"
    path.write_bytes(pickle.dumps({"params": params, "state": state}, protocol=4))
    loaded = load_pickle(path)
    assert type(loaded["params"]) is not haiku_names and isinstance(loaded["params"], dict)
    weight = loaded["params"]["text_audio_video/~/video_module/conv1"]["w"]
    assert isinstance(weight, np.ndarray) and weight.shape == (2, 3) and weight.dtype == np.float32
    assert loaded["state"]["bn/~/mean_ema"]["counter"] == 3


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_before_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"params": {"w": np.ones(2)}, "x": _Payload(marker)}))
    with pytest.raises(
        CheckpointError, match=r"evil.pkl: unsafe.*refused global (posix|os)\.system"
    ):
        load_pickle(path)
    assert not marker.exists()


def test_truncated_and_missing_pickles(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"w": np.ones(100)})[:50])
    with pytest.raises(CheckpointError, match="cut.pkl: .*truncated"):
        load_pickle(path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_pickle(tmp_path / "absent.pkl")


def test_a_pickle_dill_wrote_from_the_official_mmv_model_reads_back():
    """Real dill output (``dill._dill._create_array``) of the official Haiku model's state."""
    record = Path(__file__).parent / "fixtures" / "mmv_official"
    tree = load_pickle(record / "mmv_haiku_subset.pkl")
    expected = np.load(record / "mmv_haiku_subset.npz")
    assert len(expected.files) == 9
    for key in expected.files:
        part, module, name = key.split("|")
        value = tree[part][module][name]
        assert isinstance(value, np.ndarray) and value.dtype == expected[key].dtype
        np.testing.assert_array_equal(value, expected[key])
    stem = "text_audio_video/visual_module/~/S3D/Conv2d_1a_7x7/__batch_norm"
    assert tree["state"][f"{stem}/~/mean_ema"]["average"].shape == (1, 1, 1, 1, 64)


def _create_array(*args):
    raise AssertionError("the forged reconstructor must never run")


class _ForgedArray:
    """A dill array record whose reconstructor is not numpy's."""

    def __reduce__(self):
        return (_create_array, (np.dtype, ("f4",), None))


def test_dills_array_wrapper_accepts_only_numpys_reconstructor(tmp_path, monkeypatch):
    module = types.ModuleType("dill._dill")
    module._create_array = _create_array
    monkeypatch.setattr(_create_array, "__module__", "dill._dill")
    for name in ("dill", "dill._dill"):
        monkeypatch.setitem(sys.modules, name, module)
    path = tmp_path / "forged.pkl"
    path.write_bytes(pickle.dumps({"w": _ForgedArray()}))
    with pytest.raises(CheckpointError, match="forged.pkl: .*other than numpy"):
        load_pickle(path)


def test_tensorbundle_reads_a_saved_models_variables():
    """TF-Hub SavedModels keep their weights in ``variables/variables.{index,data-*}``."""
    folder = Path(__file__).parent / "fixtures" / "tf_saved_model_variables"
    expected = np.load(folder / "expected.npz")
    with TensorBundle(folder / "variables") as bundle:
        read = {name.split("/")[0]: bundle.read(name) for name in bundle.names() if "/" in name}
    np.testing.assert_array_equal(read["dense"], expected["kernel"])
    np.testing.assert_array_equal(read["bn_mean"], expected["mean"])
    assert read["steps"].dtype == np.int64 and int(read["steps"]) == 7

"""``avpet convert-official`` on damaged and odd inputs, for every family: truncated at many
offsets, bytes flipped, empty, a folder, another family's file. Each ends in one avpet error
(exit 3, no traceback) and writes nothing. And the same source converts to the same bytes."""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avpet.cli import main
from avpet.convert import mmv
from avpet.convert.safe_pickle import load_pickle
from avpet.errors import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures"
VATT = FIXTURES / "vatt_official"
MMV = FIXTURES / "mmv_official_s3d" / "mmv_s3d.pkl"
DATA = "ckpt-1.data-00000-of-00001"


def _damaged(data: bytes, seed: int) -> list[tuple[str, bytes]]:
    """Truncations at the edges and at random offsets, and one to sixteen bytes flipped."""
    rng = random.Random(seed)
    size = len(data)
    cuts = sorted({0, 1, 16, size // 2, size - 1} | {rng.randrange(size) for _ in range(3)})
    out = [(f"cut{c}", data[:c]) for c in cuts]
    for _ in range(4):
        at, width = rng.randrange(size), rng.choice((1, 4, 16))
        flipped = bytearray(data)
        for i in range(at, min(at + width, size)):
            flipped[i] ^= rng.randrange(1, 256)
        out.append((f"flip{at}x{width}", bytes(flipped)))
    return out


def _avbert_checkpoint(path: Path) -> Path:
    """A small PyTorch checkpoint in the released layout (too few keys to convert fully)."""
    state = {"avbert.transformer.embeddings.word_embeddings.weight": torch.randn(4, 8)}
    torch.save({"state_dict": state, "epoch": 1}, path)
    return path


def _refused(capsys, tmp_path: Path, family: str, source: Path) -> None:
    out = tmp_path / "out"
    code = main(["convert-official", family, str(source), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.startswith("avpet convert-official: error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temporary left


@pytest.mark.parametrize("part", ["index", "data"])
def test_damaged_vatt_checkpoints_are_one_error(part, tmp_path, capsys):
    original = {"index": (VATT / "ckpt-1.index").read_bytes(), "data": (VATT / DATA).read_bytes()}
    for label, data in _damaged(original[part], seed=len(part)):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "ckpt-1.index").write_bytes(data if part == "index" else original["index"])
        (folder / DATA).write_bytes(data if part == "data" else original["data"])
        _refused(capsys, folder, "vatt", folder / "ckpt-1")


def test_damaged_mmv_pickles_are_one_error(tmp_path, capsys):
    for label, data in _damaged(MMV.read_bytes(), seed=3):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "m.pkl").write_bytes(data)
        _refused(capsys, folder, "mmv", folder / "m.pkl")


def test_damaged_avbert_checkpoints_are_one_error(tmp_path, capsys):
    original = _avbert_checkpoint(tmp_path / "avbert.pyth").read_bytes()
    for label, data in _damaged(original, seed=4):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "a.pyth").write_bytes(data)
        _refused(capsys, folder, "avbert", folder / "a.pyth")


def test_an_mmv_pickle_with_an_object_array_is_refused(tmp_path, capsys):
    """The safe reader builds an object-dtype array (numpy's own pickle protocol); the
    converter must refuse it before any arithmetic on it."""
    tree = {
        part: {m: dict(v) for m, v in value.items()} for part, value in load_pickle(MMV).items()
    }
    module = next(iter(tree["params"]))
    name = next(iter(tree["params"][module]))
    tree["params"][module][name] = np.array([1, "x"], dtype=object)
    path = tmp_path / "object.pkl"
    path.write_bytes(pickle.dumps(tree))
    _refused(capsys, tmp_path, "mmv", path)
    with pytest.raises(CheckpointError, match=r"is not a numeric array \(object\)"):
        mmv.load_official(path)


@pytest.mark.parametrize("family", ["avbert", "vatt", "mmv"])
def test_odd_inputs_are_one_error(family, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    folder = tmp_path / "folder"
    folder.mkdir()
    others = {
        "avbert": [VATT / "ckpt-1.index", MMV],
        "vatt": [MMV, _avbert_checkpoint(tmp_path / "a.pyth")],
        "mmv": [VATT / DATA, _avbert_checkpoint(tmp_path / "a.pyth")],
    }[family]
    for source in [empty, folder, tmp_path / "missing", FIXTURES / "mel_reference.safetensors"]:
        _refused(capsys, tmp_path, family, source)
    for source in others:  # another family's checkpoint
        _refused(capsys, tmp_path, family, source)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# registers the tiny fixture's architecture (as the released sizes are), then converts it
CONVERT_TINY_VATT = """
import sys
from dataclasses import replace
from avpet import registry
from avpet.config import PretrainedCfg
from avpet.convert import vatt
from avpet.models import vatt as vatt_model
checkpoint, out = sys.argv[1:]
cfg = vatt.infer_cfg(vatt.load_official(checkpoint))
default = PretrainedCfg(input=replace(vatt_model.PAPER_INPUT, frames=4, size=16, test_size=16))
vatt_model.VARIANTS["vatt_tiny"] = (cfg, default)
registry._entries["vatt_tiny"] = registry.ModelEntry(vatt_model.VATT, cfg)
registry._pretrained_cfgs["vatt_tiny"] = {"": default}
vatt.convert_official(checkpoint, out)
"""


def test_the_same_checkpoint_converts_to_the_same_bytes_readable_by_all(tmp_path):
    """Twice, in separate processes (safetensors' own writer ordered its metadata differently
    from one process to the next): identical files, created 0644 under the usual umask."""
    outs = [tmp_path / "a", tmp_path / "b"]
    umask = os.umask(0o022)
    try:
        for out in outs:
            subprocess.run(
                [sys.executable, "-c", CONVERT_TINY_VATT, str(VATT / "ckpt-1"), str(out)],
                check=True,
                env={**os.environ, "PYTHONHASHSEED": "random"},
            )
    finally:
        os.umask(umask)
    first, second = (_digests(out) for out in outs)
    assert first == second and set(first) == {"README.md", "config.json", "model.safetensors"}
    for path in outs[0].iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_help_names_every_family(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    line = next(x for x in capsys.readouterr().out.splitlines() if "AVBERT" in x)
    assert all(family in line for family in ("AVBERT", "VATT", "MMV")), line

"""Weights and repo configs are untrusted data: every malformed one is a CheckpointError naming the
file (exit status 3 from the command line), never a traceback, and never silently wrong weights."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import avpet
from avpet.cli import main
from avpet.errors import CheckpointError, ConfigError
from avpet.hub import save_pretrained

NAME = "avpet_small_mid_lowrank"
DEEP = "[" * 100_000 + "]" * 100_000  # RecursionError in json.loads


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_pretrained(avpet.create_model(NAME), tmp_path_factory.mktemp("hub") / "repo")


def _safetensors(path: Path, header: object, data: bytes = b"\0" * 8) -> Path:
    raw = header if isinstance(header, str) else json.dumps(header)
    blob = raw.encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


@pytest.mark.parametrize(
    "offsets",
    [[], 8, ["0", "8"], [0], [8, 0], [-1, 8], [0, 8.0], None, [True, 8]],
    ids=str,
)
def test_malformed_data_offsets(tmp_path, offsets):
    header = {"w": {"dtype": "F32", "shape": [2], "data_offsets": offsets}}
    path = _safetensors(tmp_path / "w.safetensors", header)
    with pytest.raises(CheckpointError, match="tensor 'w' needs data_offsets"):
        avpet.create_model(NAME, pretrained=str(path))


@pytest.mark.parametrize("header", [DEEP, '{"w": ' + DEEP + "}", "[1, 2]", '"text"'])
def test_deep_or_non_object_headers(tmp_path, header):
    path = _safetensors(tmp_path / "w.safetensors", header)
    with pytest.raises(CheckpointError, match="corrupted safetensors header"):
        avpet.create_model(NAME, pretrained=str(path))


def _edit_config(repo: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    config = json.loads((copy / "config.json").read_text())
    edit(config)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("weights", [1], '"weights" must be an object'),
        ("weights", {"file": 5}, "weights file must be a .safetensors name"),
        ("weights", {"file": "../x.safetensors"}, "weights file must be a .safetensors name"),
        ("weights", {"sha256": 5}, "weights sha256 must be 64 hex digits"),
        ("weights", {"sha256": "zz"}, "weights sha256 must be 64 hex digits"),
        ("weights", {"bytes": "12"}, "weights bytes must be a size"),
        ("pretrained_cfg", "x", "'pretrained_cfg' must be an object, got 'x'"),
        ("model_cfg", None, "'model_cfg' must be an object, got None"),
        ("model_name", 3, "'model_name' must be a string, got 3"),
        ("pretrained_cfg.input.num_clips", "4", "num_clips must be an integer, got '4'"),
        ("pretrained_cfg.input.mean", "abc", "mean must be a list of 3"),
        ("pretrained_cfg.input.mean", [0.1, "a", 0.2], "mean must be a list of 3"),
        ("pretrained_cfg.input.std", [0, 0, 0], "std must be positive"),
        ("pretrained_cfg.input.frames", 10**6, "frames must be in 1..256"),
        ("pretrained_cfg.input.size", 10**5, "size must be in 1..1024"),
        ("pretrained_cfg.input.sample_rate", 10**9, "sample_rate must be in 1000..192000"),
        ("pretrained_cfg.input.fps", 1e-9, "fps must be in 0.1..1000"),
        ("pretrained_cfg.input.fps", None, "fps must be a finite number, got None"),
        ("pretrained_cfg.input", [[[]]], "input must be InputSpec"),
        ("pretrained_cfg.input.nonsense", 1, "has no field 'nonsense'"),
        ("pretrained_cfg.license", {"a": {"b": []}}, "license must be a string or null"),
    ],
)
def test_wrong_types_in_config_json(repo, tmp_path, capsys, field, value, reason):
    def edit(config):
        *parents, leaf = field.split(".")
        node = config
        for key in parents:
            node = node[key]
        if field == "weights":
            node[leaf] = value if not isinstance(value, dict) else {**node[leaf], **value}
        else:
            node[leaf] = value

    copy = _edit_config(repo, tmp_path, edit)
    with pytest.raises(CheckpointError, match="config.json") as error:
        avpet.create_model(NAME, pretrained=f"local-dir:{copy}")
    assert reason in str(error.value)
    argv = ["extract", "x.mp4", "--model", NAME, "--pretrained", f"local-dir:{copy}"]
    assert main([*argv, "--out", str(tmp_path / "f.safetensors")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("avpet extract: error:") and reason in err and "Traceback" not in err


def test_deeply_nested_config_json(repo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    (copy / "config.json").write_text(DEEP)
    with pytest.raises(CheckpointError, match="config.json: not a readable JSON file"):
        avpet.create_model(NAME, pretrained=f"local-dir:{copy}")


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda t: t.fill_(float("nan")), "non-finite values"),
        (lambda t: t.fill_(float("inf")), "non-finite values"),
        (lambda t: t.to(torch.int8), "wrong dtype .*int8 \\(model: torch.float32\\)"),
    ],
    ids=["nan", "inf", "int8"],
)
def test_non_finite_or_integer_weights_are_refused(repo, tmp_path, change, reason):
    from safetensors.torch import load_file

    state = load_file(repo / "model.safetensors")
    key = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 2)
    state[key] = change(state[key].clone())
    path = tmp_path / "w.safetensors"
    save_file(state, path)
    with pytest.raises(CheckpointError, match=reason) as error:
        avpet.create_model(NAME, pretrained=str(path))
    assert key in str(error.value) and str(path) in str(error.value)


@pytest.mark.parametrize("source", ["", "  "])
def test_an_empty_pretrained_source_is_not_random_weights(source, capsys, data_dir, tmp_path):
    with pytest.raises(ConfigError, match="pretrained source is empty"):
        avpet.create_model(NAME, pretrained=source)
    clip = str(data_dir / "grid_s1" / "video" / "bbaf2n.mp4")
    argv = ["extract", clip, "--model", NAME, f"--pretrained={source}", "--out", str(tmp_path)]
    assert main(argv) == 3
    assert "pretrained source is empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # a bare --pretrained never takes the next word
        main(["extract", clip, "--model", NAME, "--pretrained", source, "--out", str(tmp_path)])
    assert usage.value.code == 2


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("fusion", 3, "fusion must be a string"),
        ("num_classes", "4", "num_classes must be an integer"),
        ("transformer", {"depth": "2"}, "depth must be an integer"),
        ("visual", [1], "visual must be ResNet3dCfg"),
    ],
)
def test_a_repo_model_cfg_of_the_wrong_type_is_named(tmp_path, field, value, named):
    """config.json's model_cfg is checked field by field before the model is built."""
    folder = save_pretrained(avpet.create_model("avpet_small_mid_lowrank"), tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    config["model_cfg"][field] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"config.json: bad model_cfg.*{named}"):
        avpet.create_model(f"local-dir:{folder}")

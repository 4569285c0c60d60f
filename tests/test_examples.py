"""Every script in ``examples/`` run as a user runs it (a subprocess) on a tiny real input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT
from test_convert import official_state_dict

import avpet
from avpet.pretrain.metrics import read_metrics

EXAMPLES = REPO_ROOT / "examples"
MODEL = "avpet_small_mid_lowrank"
COLOURS = {"b": "blue", "g": "green"}  # GRID ids: letter 2 is the colour word


def run_example(script: str, *args: str | Path, cwd: Path) -> str:
    """Run ``examples/script`` with ``args``; returns its stdout (fails with its stderr)."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def labelled_folder(data_dir, tmp_path_factory) -> Path:
    """``ROOT/{blue,green}/`` with symlinks to 3 GRID s1 clips each, labelled by colour word."""
    root = tmp_path_factory.mktemp("labelled")
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))
    for letter, colour in COLOURS.items():
        (root / colour).mkdir()
        for video in [v for v in videos if v.stem[1] == letter][:3]:
            (root / colour / video.name).symlink_to(video)
    return root


def test_extract_features_to_pandas_and_a_probe(labelled_folder, tmp_path):
    stdout = run_example("extract_features.py", labelled_folder, cwd=tmp_path)
    assert stdout.startswith("30 clips of 6 videos, 256 features")  # 5 clips of 0.64 s per 3 s
    result = last_json(stdout)
    assert result["classes"] == ["blue", "green"] and result["videos"] == 6
    assert 0.0 <= result["accuracy"] <= 1.0 and result["chance"] == 0.5


def test_linear_probe_reports_an_accuracy(labelled_folder, tmp_path):
    result = last_json(run_example("linear_probe.py", labelled_folder, "--json", cwd=tmp_path))
    assert result["classes"] == ["blue", "green"] and result["n_videos"] == 6
    assert len(result["fold_accuracy"]) == 3
    assert 0.0 <= result["accuracy"] <= 1.0 and result["chance"] == 0.5


def test_linear_probe_refuses_a_folder_without_classes(tmp_path):
    (tmp_path / "only").mkdir()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "linear_probe.py"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert f"{tmp_path}: need >= 2 class folders holding videos" in done.stderr


@pytest.mark.slow
def test_finetune_trains_and_saves_a_loadable_backbone(labelled_folder, tmp_path):
    out = tmp_path / "finetuned"
    stdout = run_example(
        "finetune.py",
        labelled_folder,
        "--steps",
        2,
        "--batch-size",
        2,
        "--out",
        out,
        "--json",
        cwd=tmp_path,
    )
    result = last_json(stdout)
    assert len(result["losses"]) == 2 and all(math.isfinite(x) for x in result["losses"])
    assert result["tensors_changed"] > 0
    assert "after reset_classifier(0) the model returns features [2, " in stdout
    model = avpet.create_model(MODEL, pretrained=f"local-dir:{out}")
    assert model.get_classifier() is None
    fresh = avpet.create_model(MODEL).state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in model.state_dict().items())


@pytest.mark.slow
def test_pretrain_own_videos_exports_a_loadable_final(labelled_folder, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for clip in sorted(labelled_folder.rglob("*.mp4"))[:3]:
        (videos / clip.name).symlink_to(clip.resolve())
    run_dir, png = tmp_path / "run", tmp_path / "loss.png"
    stdout = run_example(
        "pretrain_own_videos.py",
        videos,
        "--out",
        run_dir,
        "--steps",
        2,
        "--plot",
        png,
        cwd=tmp_path,
    )
    records = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in records)
    assert f"loaded {run_dir / 'final'}" in stdout and "features [1, " in stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    avpet.create_model(MODEL, pretrained=f"local-dir:{run_dir / 'final'}")


@pytest.mark.slow
def test_convert_official_example(tmp_path):
    checkpoint = tmp_path / "avbert_official.pyth"
    official = official_state_dict()
    torch.save({"state_dict": {f"avbert.{k}": v for k, v in official.items()}}, checkpoint)
    stdout = run_example(
        "convert_official.py", checkpoint, "--out", tmp_path / "repo", cwd=tmp_path
    )
    assert "total: 43,778,080" in stdout
    converted = avpet.create_model("avpet_mid_lowrank", pretrained=f"local-dir:{tmp_path / 'repo'}")
    assert torch.equal(
        converted.state_dict()["visual_proj.fc.weight"], official["visual_fc.weight"]
    )

"""``torchrun -m avpet extract`` and ``avpet index`` on real GRID videos: two ranks split the
videos; for extract each writes its files and its index part, rank 0 merges one ``index.csv``;
the features equal one process's bitwise; a rerun redoes only what is missing (a deleted file, a
killed rank's part); for index rank 0 writes the one search index, equal to one process's."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avpet.features.store import INDEX, read_features
from avpet.search.index import ClipIndex

pytestmark = pytest.mark.slow

MODEL = "avpet_small_mid_lowrank"
WEIGHTS = Path(__file__).resolve().parents[1] / "hub" / f"{MODEL}.grid_s1"


def _extract(paths: list[Path], out: Path, ranks: int, command: str = "extract") -> list[str]:
    launcher = [sys.executable]
    if ranks > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks)]
    cmd = [*launcher, "-m", "avpet", command, *map(str, paths)]
    cmd += ["--out", str(out), "--batch-size", "8"]
    if command == "extract":
        cmd += ["--model", MODEL, "--on-error", "skip", "--workers", "1"]
    else:  # the published weights: an index of random weights means nothing
        cmd += ["--model", f"{MODEL}.grid_s1", f"--pretrained=local-dir:{WEIGHTS}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / INDEX, newline="") as f:
        return sorted(csv.DictReader(f), key=lambda row: row["path"])


def test_two_ranks_write_the_features_of_one_process_and_one_index(data_dir, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:5]:
        shutil.copy(video, folder)
    videos = sorted(folder.glob("*.mp4"))
    (folder / "broken.mp4").write_text("not a video")
    paths = [folder]
    alone, shared = tmp_path / "alone", tmp_path / "shared"
    _extract(paths, alone, 1)
    printed = _extract(paths, shared, 2)
    assert sorted(line.split(":")[0] for line in printed) == ["rank 0 of 2", "rank 1 of 2"]
    outputs = sorted(p.name for p in shared.iterdir() if not p.name.endswith(".lock"))
    assert outputs == sorted([INDEX, *(f"{v.name}.safetensors" for v in videos)])  # no part left
    assert _rows(shared) == _rows(alone)
    assert [row["status"] for row in _rows(shared)].count("error") == 1
    for video in videos:
        a = read_features(alone / f"{video.name}.safetensors")
        b = read_features(shared / f"{video.name}.safetensors")
        assert a.features.keys() == b.features.keys()
        for key in a.features:
            assert torch.equal(a.features[key], b.features[key]), (video.name, key)
        assert torch.equal(a.start, b.start)

    # a rerun redoes what is missing: a deleted file, and a video a killed rank had recorded in
    # its part as failed
    (shared / f"{videos[1].name}.safetensors").unlink()
    rows = _rows(shared)
    part = next(row for row in rows if row["path"] == str(videos[3]))
    (shared / "index.rank00001.csv").write_text(
        f"path,output,status,duration,clips,error,model\n{part['path']},,error,,,killed,{MODEL}\n"
    )
    kept = {v: (shared / f"{v.name}.safetensors").stat().st_mtime_ns for v in videos[::2]}
    printed = _extract(paths, shared, 2)
    done = sum(int(line.split(": ")[1].split()[0]) for line in printed)
    assert done == 2, printed
    assert _rows(shared) == _rows(alone)
    assert {v: (shared / f"{v.name}.safetensors").stat().st_mtime_ns for v in kept} == kept
    assert not list(shared.glob("index.rank*.csv"))


def test_two_ranks_build_the_search_index_of_one_process(data_dir, tmp_path):
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:3]
    alone, shared = tmp_path / "alone", tmp_path / "shared"
    _extract(videos, alone, 1, "index")
    printed = _extract(videos, shared, 2, "index")
    assert len(printed) == 1 and "3 video(s) added" in printed[0]  # rank 0 reports every rank's
    one, two = ClipIndex.load(alone), ClipIndex.load(shared)
    assert sorted(one.videos) == sorted(two.videos) == sorted(map(str, videos))
    for video in one.videos:
        a = one.video_ids == one.videos.index(video)
        b = two.video_ids == two.videos.index(video)
        assert np.array_equal(one.starts[a], two.starts[b])
        for modality in ("visual", "audio"):
            assert np.array_equal(one.embeddings[modality][a], two.embeddings[modality][b])

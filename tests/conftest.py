"""Shared fixtures and helpers: where the real data lives (``AVPET_DATA`` or ``../shared/data``),
models on the meta device, GRID manifests, free ports, a hub repo's first hour (extract, eval).
Test modules import the plain helpers (``from conftest import meta_model``); pytest puts this
folder on ``sys.path``."""

from __future__ import annotations

import json
import os
import socket
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

import avpet
from avpet.cli import main
from avpet.data.grid import GridClip, find_clips

REPO_ROOT = Path(__file__).resolve().parents[1]

# Nothing in the suite may reach the internet: tests that need a Hub start their own on 127.0.0.1
# and point huggingface_hub at it explicitly; everything else sees an offline, unreachable Hub.
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _data_root() -> Path:
    return Path(os.environ.get("AVPET_DATA", REPO_ROOT.parent / "shared" / "data"))


def spec_file(name: str) -> Path:
    """A file of the shared spec folder, beside the real data (``shared/spec`` next to
    ``shared/data``), so a clone anywhere finds it through ``AVPET_DATA`` as CI's does."""
    return _data_root().parent / "spec" / name


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the real data (GRID s1, FSDD, awkward media); skips with a message if absent."""
    root = _data_root()
    if not (root / "grid_s1").is_dir():
        pytest.skip(f"real data not found at {root}: set AVPET_DATA to the shared data folder")
    return root


@pytest.fixture(scope="session")
def grid_clips(data_dir) -> list[GridClip]:
    """Every GRID s1 sentence of the real data (:func:`avpet.data.grid.find_clips`)."""
    return find_clips(data_dir / "grid_s1" / "video")


def meta_model(name: str, **overrides) -> nn.Module:
    """``avpet.create_model(name, **overrides)`` on the meta device: shapes, counts, no memory."""
    with torch.device("meta"):
        return avpet.create_model(name, **overrides)


def grid_manifest(data_dir: Path, folder: Path, count: int) -> Path:
    """``folder/train.csv``: a CSV manifest of the first ``count`` GRID s1 videos."""
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:count]
    path = folder / "train.csv"
    path.write_text("path\n" + "".join(f"{v}\n" for v in videos))
    return path


def first_hour(repo: Path, data_dir: Path, out: Path, capsys) -> dict[str, tuple[int, ...]]:
    """A user's first hour with the hub repo ``repo``: ``avpet extract`` of a GRID clip into
    ``out`` and ``avpet eval fsdd|grid`` with ``--model local-dir:REPO --pretrained``, each
    checked; returns the shapes of the extracted features (``[clips, C]``)."""
    model = ["--model", f"local-dir:{repo}", "--pretrained"]
    clip = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    assert main(["extract", str(clip), *model, "--out", str(out)]) == 0
    features = avpet.read_features(out / "bbaf2n.mp4.safetensors")
    assert features.num_clips >= 1
    assert all(torch.isfinite(v).all() for v in features.features.values())
    capsys.readouterr()
    args = f"--data {data_dir / 'fsdd'} --per-digit 1 --probe-c 1.0 --json"
    assert main(["eval", "fsdd", *model, *args.split()]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_recordings"] == 60 and 0.0 <= result["digit_acc_mean"] <= 1.0
    args = f"--data {data_dir / 'grid_s1'} --limit 6 --probe-c 1.0 --json"
    assert main(["eval", "grid", *model, *args.split()]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_train"] == result["n_test"] == 6 and result["level"] == "joint"
    assert all(0.0 <= result[k] <= 1.0 for k in ("visual_letter_acc", "audio_digit_acc", "a2v_r1"))
    return {k: tuple(v.shape) for k, v in features.features.items()}


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return found


def wait_gone(pids: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and process_state(p) != "Z"]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes {alive} survived SIGKILL")


def process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_clone(tmp_path, data_dir) -> Path:
    """A copy of the repository's tracked files at ``tmp/avpet`` (what ``git clone`` gives, with
    their working-tree contents), with ``tmp/shared/data`` linking to the real data: docs
    commands run there as in a fresh clone, whatever a user's own runs left in the working tree
    (``features/`` from the README's first command, say). A new file is seen once ``git add``ed."""
    clone = copy_tracked(REPO_ROOT, tmp_path / "avpet")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(data_dir.resolve())
    return clone


def copy_tracked(repo: Path, dest: Path) -> Path:
    """Copy the files git tracks in ``repo`` (staged ones included, untracked ones never) to
    ``dest``."""
    import shutil
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached"], cwd=repo, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = repo / name
        if source.is_file():  # a tracked file deleted in the working tree stays deleted
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def docs_env(home: Path) -> dict[str, str]:
    """The environment a user's shell has: this venv's commands first, an online Hub setting
    (no HF_HUB_OFFLINE: the commands set HF_ENDPOINT where they use one) and an empty HF_HOME."""
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HOME"] = str(home)
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing reaches the internet from the tests
    env["OMP_NUM_THREADS"] = "1"
    return env


def concatenate(videos: list[Path], out: Path, delays: list[int] | None = None) -> list[float]:
    """Write ``videos`` one after the other into ``out`` (MPEG-4 video, AAC audio, re-encoded
    with PyAV), each part's sound ``delays[i]`` frames late (non-decreasing; default none) and
    cut to its picture's length (a GRID file's sound is 8 ms longer: uncut, it would drift);
    returns each part's start time in seconds."""
    delays = delays or [0] * len(videos)
    starts, t_video, t_audio = [], 0, 0
    with av.open(str(out), "w") as sink:
        with av.open(str(videos[0])) as first:
            template = first.streams.video[0]
            rate = first.streams.audio[0].rate
        vout = sink.add_stream("mpeg4", rate=25)
        vout.width, vout.height, vout.pix_fmt = template.width, template.height, "yuv420p"
        vout.bit_rate = 2_000_000
        aout = sink.add_stream("aac", rate=rate)
        aout.layout = "mono"
        for video, delay in zip(videos, delays, strict=True):
            starts.append(t_video / 25)
            silence = max(round((t_video + delay) / 25 * rate) - t_audio, 0)
            with av.open(str(video)) as source:
                for frame in source.decode(video=0):
                    frame = frame.reformat(format="yuv420p")
                    frame.pts, frame.time_base = t_video, Fraction(1, 25)
                    t_video += 1
                    sink.mux(vout.encode(frame))
            with av.open(str(video)) as source:
                pieces = [f.to_ndarray().mean(axis=0) for f in source.decode(audio=0)]
            stop = round((t_video + delay) / 25 * rate) - t_audio  # the part's picture ends
            samples = np.concatenate([np.zeros(silence), *pieces])[:stop].astype(np.float32)[None]
            mono = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            mono.rate, mono.pts, mono.time_base = rate, t_audio, Fraction(1, rate)
            t_audio += mono.samples
            sink.mux(aout.encode(mono))
        sink.mux(vout.encode(None))
        sink.mux(aout.encode(None))
    return starts

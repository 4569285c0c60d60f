"""Shared fixtures and helpers: where the real data lives (``AVPET_DATA`` or ``../shared/data``),
models on the meta device, GRID manifests, free ports. Test modules import the plain helpers
(``from conftest import meta_model``); pytest puts this folder on ``sys.path``."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
from torch import nn

import avpet
from avpet.data.grid import GridClip, find_clips

REPO_ROOT = Path(__file__).resolve().parents[1]

# Nothing in the suite may reach the internet: tests that need a Hub start their own on 127.0.0.1
# and point huggingface_hub at it explicitly; everything else sees an offline, unreachable Hub.
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _data_root() -> Path:
    return Path(os.environ.get("AVPET_DATA", REPO_ROOT.parent / "shared" / "data"))


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_clone(tmp_path, data_dir) -> Path:
    """A copy of the repository's files (tracked and new, not ignored) at ``tmp/avpet``, with
    ``tmp/shared/data`` linking to the real data: docs commands run there as in a fresh clone."""
    import shutil
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    clone = tmp_path / "avpet"
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(data_dir.resolve())
    return clone


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

"""Shared fixtures: where the real data lives (``AVPET_DATA`` or ``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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

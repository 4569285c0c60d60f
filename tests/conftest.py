"""Shared fixtures and helpers: where the real data lives (``AVPET_DATA`` or ``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from avpet.data.grid import find_clips

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
def grid_clips(data_dir) -> list:
    """Every GRID s1 sentence of the real data (:func:`avpet.data.grid.find_clips`)."""
    return find_clips(data_dir / "grid_s1" / "video")

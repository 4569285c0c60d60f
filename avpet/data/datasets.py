"""``VideoDataset``: a folder or CSV manifest of videos as model-ready samples, DataLoader-safe;
``SeededItems``: per-item seeding, so augmentations are a pure function of (seed, epoch, index)."""

from __future__ import annotations

import csv
import logging
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, MediaError
from .config import DataConfig
from .loader import load_sample
from .transforms import create_transform

logger = logging.getLogger(__name__)
T = TypeVar("T")

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".flv", ".ts"}
)


class VideoDataset(Dataset):
    """Samples of :func:`avpet.data.loader.load_sample` over a list of videos.

    Args:
        source: a folder (every file with a video extension below it, sorted) or a CSV manifest
            with a ``path`` column (relative paths are relative to the CSV) and an optional
            ``starts`` column of ``;``-separated clip start times in seconds.
        cfg: data config, e.g. ``resolve_data_config(model)``.
        is_training: random clip starts and augmentations instead of uniform starts.
        on_error: ``"raise"`` a :class:`MediaError`, or ``"skip"``: log it and return the next
            readable file's sample instead, so an epoch survives bad files.
    """

    def __init__(
        self,
        source: str | Path,
        cfg: DataConfig,
        is_training: bool = False,
        on_error: Literal["raise", "skip"] = "raise",
    ):
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.items = _list_items(Path(source))
        self.transform = create_transform(cfg, is_training)
        self.on_error = on_error

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """``visual [T,3,F,S,S]``, ``audio`` (``[T,1,M,L]`` log-mel or ``[T,S]`` waveform),
        ``path``, ``starts [T]``, ``has_audio``."""
        for offset in range(len(self.items)):
            path, starts = self.items[(index + offset) % len(self.items)]
            try:
                return load_sample(path, self.transform, starts)
            except MediaError as error:
                if self.on_error == "raise":
                    raise
                logger.warning("skipping unusable video: %s", error)
        raise MediaError(str(self.items[index][0]), "no readable video in the whole dataset")


def _list_items(source: Path) -> list[tuple[str, list[float] | None]]:
    if source.is_dir():
        items = [
            (str(p), None)
            for p in sorted(source.rglob("*"))
            if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
        ]
    elif source.is_file():
        items = _read_manifest(source)
    else:
        raise MediaError(source, "no such folder or manifest")
    if not items:
        raise MediaError(source, "no videos found")
    return items


def _read_manifest(manifest: Path) -> list[tuple[str, list[float] | None]]:
    """Rows of a CSV manifest (UTF-8, with or without a byte-order mark) with a ``path`` and an
    optional ``starts`` column of finite numbers."""
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise MediaError(manifest, f"unreadable CSV manifest ({error})") from error
    if not rows or "path" not in rows[0]:
        raise MediaError(manifest, "a CSV manifest needs a header with a 'path' column")
    items = []
    for line, row in enumerate(rows, start=2):
        if not row.get("path"):
            raise MediaError(manifest, f"line {line}: no path (the row is shorter than the header)")
        path = Path(row["path"])
        if not path.is_absolute():
            path = manifest.parent / path
        text = (row.get("starts") or "").strip()
        try:
            starts = [float(s) for s in text.split(";")] if text else None
        except ValueError as error:
            raise MediaError(manifest, f"line {line}: bad starts {text!r}") from error
        if starts is not None and not all(map(math.isfinite, starts)):
            raise MediaError(manifest, f"line {line}: starts must be finite seconds, got {text!r}")
        items.append((str(path), starts))
    return items


class SeededItems(Dataset):
    """Wrap ``dataset`` so item ``i`` of epoch ``e`` sees torch / numpy / python RNGs seeded from
    ``(seed, e, i)``; the caller's RNG states are left as they were."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return seeded_call((self.seed, self.epoch, index), self.dataset.__getitem__, index)


def seeded_call(key: tuple[int, ...], fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with torch / numpy / python RNGs seeded from ``key``; the caller's RNG states
    are left as they were."""
    item_seed = int(np.random.SeedSequence(list(key)).generate_state(1)[0])
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(item_seed)
        np.random.seed(item_seed)
        random.seed(item_seed)
        try:
            return fn(*args)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

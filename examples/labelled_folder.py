"""A labelled folder of videos (``ROOT/CLASS/*.mp4``) as a dataset, shared by the examples.

Each sub-folder of ``ROOT`` is one class (sorted names give the label ids); every video file below
it is one sample, decoded by :func:`avpet.data.load_sample`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from avpet import ConfigError
from avpet.data import ClipTransform, load_sample

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}


def find_labelled_videos(root: str | Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """``([(video, label), ...], class_names)`` for ``root/CLASS/VIDEO``; needs >= 2 classes."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder (expected ROOT/CLASS/VIDEO files)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    items = [
        (video, label)
        for label, name in enumerate(classes)
        for video in sorted((root / name).rglob("*"))
        if video.suffix.lower() in VIDEO_SUFFIXES
    ]
    counts = {name: sum(1 for _, y in items if y == i) for i, name in enumerate(classes)}
    if len(classes) < 2 or min(counts.values()) == 0:
        raise ConfigError(f"{root}: need >= 2 class folders holding videos, found {counts}")
    return items, classes


class LabelledVideos(Dataset):
    """Items ``{"visual": [T, 3, F, S, S], "audio": [T, 1, M, L], "label": int, "path": str}``."""

    def __init__(self, items: list[tuple[Path, int]], transform: ClipTransform):
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        path, label = self.items[index]
        sample = load_sample(path, self.transform)
        return {
            "visual": sample["visual"],
            "audio": sample["audio"],
            "label": torch.tensor(label),
            "path": str(path),
        }

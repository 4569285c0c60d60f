"""Training data for pretraining: the dataset ``data.train`` names (:data:`SOURCES`: videos,
a clip cache or shards) and a resumable sampler.

Exact resume needs the data stream to be a pure function of (seed, epoch, position): for videos
and clip caches the order comes from :class:`ResumableSampler` (DistributedSampler's seeded
shuffle, started part-way into an epoch), and any augmentation randomness inside a dataset comes
from :class:`avpet.data.datasets.SeededItems`, which seeds each item from (seed, epoch, index)
whatever worker process loads it; streamed shards order and seed themselves
(:class:`avpet.data.shards.ShardDataset`, resumed from each worker's position).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from torch.utils.data import Dataset, DistributedSampler

from ..config import InputSpec
from ..data import VideoDataset, resolve_data_config
from ..data.cache import ClipFile, Roi, read_roi
from ..data.shards import ShardDataset, is_shard_set, read_shard_set
from ..errors import ConfigError
from .config import DataSection


class ResumableSampler(DistributedSampler):
    """DistributedSampler (seeded shuffle, ``drop_last``) that can start ``skip`` samples into
    an epoch; ``set_position(epoch, skip)`` before each epoch's DataLoader iterator."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int):
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.skip = 0

    def set_position(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return self.num_samples - self.skip


def _videos(data: DataSection, spec: InputSpec, seed: int) -> Dataset:
    return VideoDataset(_train_path(data), resolve_data_config(spec), data.augment, _on_error(data))


def _clips(data: DataSection, spec: InputSpec, seed: int) -> Dataset:
    return ClipFile(_train_path(data), spec)


def _shards(data: DataSection, spec: InputSpec, seed: int) -> Dataset:
    cfg = resolve_data_config(spec)
    shards = read_shard_set(data.train)
    return ShardDataset(shards, cfg, data.augment, _on_error(data), seed, data.shuffle_buffer)


# What ``data.train`` can name, tried in order: (does it name this kind?, build it).
Builder = Callable[[DataSection, InputSpec, int], Dataset]
SOURCES: dict[str, tuple[Callable[[str], bool], Builder]] = {
    "shards": (is_shard_set, _shards),
    "clips": (lambda train: train.endswith(".safetensors"), _clips),
    "videos": (lambda train: True, _videos),
}


def source_kind(data: DataSection) -> str:
    """Which of :data:`SOURCES` ``data.train`` names."""
    if not data.train:
        raise ConfigError(
            "data.train is empty: give a folder of videos, a CSV, a clip cache or shards"
        )
    return next(kind for kind, (names, _) in SOURCES.items() if names(data.train))


def build_dataset(data: DataSection, spec: InputSpec, seed: int = 0) -> Dataset:
    """The clips ``data.train`` names: a ``.safetensors`` clip cache (:class:`ClipFile`), shards
    (:class:`avpet.data.shards.ShardDataset`, streamed: an ``IterableDataset``), or a folder /
    CSV manifest of videos decoded by :class:`avpet.data.VideoDataset` for ``spec`` (cropped to
    ``spec.roi``)."""
    return SOURCES[source_kind(data)][1](data, spec, seed)


def _on_error(data: DataSection) -> Literal["skip", "raise"]:
    return "skip" if data.skip_bad_files else "raise"


def training_crop(data: DataSection) -> Roi | None:
    """The crop the training clips have: the one a clip cache records, else ``data.roi`` (which,
    given with a cache, must agree with it)."""
    if source_kind(data) != "clips":
        return data.roi
    path = _train_path(data)
    roi = read_roi(path)
    if data.roi is not None and data.roi != roi:
        raise ConfigError(
            f"{path}: data.roi={list(data.roi)}, but the clip cache was decoded with crop {roi}; "
            "leave data.roi out to use the cache's"
        )
    return roi


def _train_path(data: DataSection) -> Path:
    path = Path(data.train)
    if not path.exists():
        raise ConfigError(f"{path}: data.train does not exist")
    return path

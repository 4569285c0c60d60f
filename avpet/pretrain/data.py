"""Training data for pretraining: the dataset ``data.train`` names and a resumable sampler.

Exact resume needs the data stream to be a pure function of (seed, epoch, position): the order
comes from :class:`ResumableSampler` (DistributedSampler's seeded shuffle, started part-way into
an epoch), and any augmentation randomness inside a dataset comes from
:class:`avpet.data.datasets.SeededItems`, which seeds each item from (seed, epoch, index) whatever
worker process loads it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from torch.utils.data import Dataset, DistributedSampler

from ..config import InputSpec
from ..data import VideoDataset, resolve_data_config
from ..data.cache import ClipFile, Roi, read_roi
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


def build_dataset(data: DataSection, spec: InputSpec) -> Dataset:
    """The clips ``data.train`` names: a ``.safetensors`` clip cache (:class:`ClipFile`), or a
    folder / CSV manifest of videos decoded by :class:`avpet.data.VideoDataset` for ``spec``
    (cropped to ``spec.roi``)."""
    path = _train_path(data)
    if path.suffix == ".safetensors":
        return ClipFile(path, spec)
    return VideoDataset(
        path,
        resolve_data_config(spec),
        is_training=data.augment,
        on_error="skip" if data.skip_bad_files else "raise",
    )


def training_crop(data: DataSection) -> Roi | None:
    """The crop the training clips have: the one a clip cache records, else ``data.roi`` (which,
    given with a cache, must agree with it)."""
    path = _train_path(data)
    if path.suffix != ".safetensors":
        return data.roi
    roi = read_roi(path)
    if data.roi is not None and data.roi != roi:
        raise ConfigError(
            f"{path}: data.roi={list(data.roi)}, but the clip cache was decoded with crop {roi}; "
            "leave data.roi out to use the cache's"
        )
    return roi


def _train_path(data: DataSection) -> Path:
    if not data.train:
        raise ConfigError("data.train is empty: give a folder of videos, a CSV or a clip cache")
    path = Path(data.train)
    if not path.exists():
        raise ConfigError(f"{path}: data.train does not exist")
    return path

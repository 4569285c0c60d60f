"""Training data for pretraining: datasets, a resumable distributed sampler, per-item seeding.

Exact resume needs the data stream to be a pure function of (seed, epoch, position): the order
comes from :class:`ResumableSampler` (DistributedSampler's seeded shuffle, started part-way into
an epoch), and any augmentation randomness inside a dataset comes from :class:`SeededItems`,
which seeds each item from (seed, epoch, index) whatever worker process loads it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch.utils.data import Dataset, DistributedSampler

from ..config import InputSpec
from ..errors import ConfigError
from .config import DataSection


class TensorClips(Dataset):
    """Decoded clips cached in one ``.safetensors`` file.

    The file holds ``visual`` [N, T, 3, F, H, W] and ``audio`` [N, *spec.audio_shape] (log-mel
    [N, T, 1, M, L] or waveform [N, T, S]; normalised, as the model takes them); items are
    ``{"visual": [T, 3, F, H, W], "audio": spec.audio_shape}``.
    """

    def __init__(self, path: str | Path, spec: InputSpec):
        self.path = Path(path)
        try:
            tensors = load_file(self.path)
        except (OSError, SafetensorError) as error:
            raise ConfigError(f"{self.path}: cannot read the clip cache ({error})") from error
        for key, shape in (("visual", spec.visual_shape), ("audio", spec.audio_shape)):
            if key not in tensors:
                raise ConfigError(f"{self.path}: the clip cache has no {key!r} tensor")
            if tuple(tensors[key].shape[1:]) != shape:
                raise ConfigError(
                    f"{self.path}: {key} clips are {tuple(tensors[key].shape[1:])}, the model "
                    f"takes {shape}"
                )
        if tensors["visual"].shape[0] != tensors["audio"].shape[0]:
            raise ConfigError(f"{self.path}: visual and audio hold different numbers of clips")
        self.visual, self.audio = tensors["visual"], tensors["audio"]

    def __len__(self) -> int:
        return self.visual.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"visual": self.visual[index], "audio": self.audio[index]}


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
        item_seed = int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])
        np_state, py_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            np.random.seed(item_seed)
            random.seed(item_seed)
            try:
                return self.dataset[index]
            finally:
                np.random.set_state(np_state)
                random.setstate(py_state)


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
    """The clips ``data.train`` names: a ``.safetensors`` clip cache, or a folder / CSV manifest of
    videos decoded by :class:`avpet.data.VideoDataset` for ``spec``."""
    if not data.train:
        raise ConfigError("data.train is empty: give a folder of videos, a CSV or a clip cache")
    path = Path(data.train)
    if not path.exists():
        raise ConfigError(f"{path}: data.train does not exist")
    if path.suffix == ".safetensors":
        return TensorClips(path, spec)
    from ..data import VideoDataset, resolve_data_config

    return VideoDataset(
        path,
        resolve_data_config(spec),
        is_training=data.augment,
        on_error="skip" if data.skip_bad_files else "raise",
    )

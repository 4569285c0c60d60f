"""Decoded clips on disk: one format for pretraining and evaluation (docs/data.md, "Clip cache").

A clip file is a ``.safetensors`` holding ``visual`` [N, T, 3, F, H, W] and ``audio``
[N, *spec.audio_shape] (log-mel [N, T, 1, M, L] or waveform [N, T, S]; normalised, as the model
takes them), and in its metadata the crop the clips were decoded with (``roi``, JSON: ``null`` or
``[top, bottom, left, right]``), so whoever reads it knows the crop without being told again.

* :func:`build_cache` (``avpet cache SOURCE --model NAME --out clips.safetensors``) decodes a folder
  or CSV manifest of videos into one file, which pretraining reads as ``data.train``
  (:class:`ClipFile`);
* :class:`ClipCache` keeps one file (N = 1) per decoded sequence in a folder named for the whole
  data config, filled on demand (``avpet eval grid --cache``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset, Subset

from ..arguments import add_roi_box_argument, parse_roi_box
from ..config import InputSpec, to_dict
from ..errors import ConfigError
from ..outputs import atomic_file, check_output, utf8_name
from .config import DataConfig, resolve_data_config
from .datasets import SeededItems, VideoDataset

Roi = tuple[int, int, int, int]
MODALITIES = ("visual", "audio")


def save_clips(path: str | Path, clips: dict[str, torch.Tensor], roi: Roi | None, **meta: str):
    """Write ``clips`` (``visual`` and ``audio``, N sequences each) with their crop ``roi`` to
    ``path``, atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    tensors = {m: clips[m].contiguous() for m in MODALITIES}
    save_file(tensors, str(partial), metadata={**meta, "roi": json.dumps(roi)})
    partial.replace(path)


def read_roi(path: str | Path) -> Roi | None:
    """The crop a clip file was decoded with (read from its header alone)."""
    try:
        with safe_open(str(path), "pt") as handle:
            text = (handle.metadata() or {}).get("roi")
        roi = json.loads(text) if text is not None else None
    except (OSError, SafetensorError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the clip cache ({error})") from error
    if text is None or not (roi is None or (isinstance(roi, list) and len(roi) == 4)):
        raise ConfigError(f"{path}: the clip cache records no crop; rebuild it with `avpet cache`")
    return None if roi is None else tuple(roi)


def load_clips(path: str | Path) -> dict[str, torch.Tensor]:
    """``visual`` and ``audio`` of a clip file; :class:`ConfigError` naming the file if it is
    unreadable or lacks one of them, or if they hold different numbers of sequences."""
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise ConfigError(f"{path}: cannot read the clip cache ({error})") from error
    for key in MODALITIES:
        if key not in tensors:
            raise ConfigError(f"{path}: the clip cache has no {key!r} tensor")
    if tensors["visual"].shape[0] != tensors["audio"].shape[0]:
        raise ConfigError(f"{path}: visual and audio hold different numbers of clips")
    return tensors


class ClipFile(Dataset):
    """A clip file as a dataset of ``{"visual": [T, 3, F, H, W], "audio": spec.audio_shape}``
    sequences; ``roi`` is the crop they were decoded with."""

    def __init__(self, path: str | Path, spec: InputSpec):
        self.path = Path(path)
        self.roi = read_roi(self.path)
        tensors = load_clips(self.path)
        for key, shape in (("visual", spec.visual_shape), ("audio", spec.audio_shape)):
            if tuple(tensors[key].shape[1:]) != shape:
                raise ConfigError(
                    f"{self.path}: {key} clips are {tuple(tensors[key].shape[1:])}, the model "
                    f"takes {shape}"
                )
        self.visual, self.audio = tensors["visual"], tensors["audio"]

    def __len__(self) -> int:
        return self.visual.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"visual": self.visual[index], "audio": self.audio[index]}


@dataclass(frozen=True)
class ClipCache:
    """Decoded sequences under ``root/<hash of the data config>/<key>.safetensors``: shared by
    every model with the same input spec and crop, never by two that differ."""

    root: Path
    cfg: DataConfig

    @property
    def folder(self) -> Path:
        key = json.dumps(to_dict(self.cfg), sort_keys=True, default=str)
        return Path(self.root) / hashlib.sha1(key.encode()).hexdigest()[:16]

    def get(
        self, key: str, decode: Callable[[], dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        """The sequence ``key`` (``visual``, ``audio`` without the N axis): read if cached, else
        ``decode()``-d and written. An unreadable cached file is decoded again and replaced."""
        path = self.folder / f"{key}.safetensors"
        if path.is_file():
            try:
                return {m: x[0] for m, x in load_clips(path).items() if m in MODALITIES}
            except ConfigError:
                pass
        sequence = decode()
        save_clips(path, {m: sequence[m][None] for m in MODALITIES}, self.cfg.roi)
        return sequence


def build_cache(
    source: str | Path,
    model: str,
    out: str | Path,
    limit: int | None = None,
    roi: Roi | None = None,
    num_workers: int = 0,
    views: int = 0,
    num_clips: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Decode up to ``limit`` videos of ``source`` for ``model``'s input spec into ``out``
    (``views`` augmented training views per video, or one uniform view if 0; ``num_clips`` clips
    per sequence instead of the model's; ``roi`` the crop, recorded in the file). An existing
    ``out`` is refused unless ``overwrite``."""
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1 video, got {limit}")
    if views < 0:
        raise ConfigError(f"views must be >= 0, got {views}")
    check_output(out, [source], overwrite)
    overrides = {} if num_clips is None else {"num_clips": num_clips}
    cfg = resolve_data_config(model, roi=roi, **overrides)
    dataset = VideoDataset(source, cfg, is_training=views > 0)
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    parts: dict[str, list[torch.Tensor]] = {m: [] for m in MODALITIES}
    for view in range(max(views, 1)):
        seeded = SeededItems(dataset, seed=view)
        for batch in DataLoader(seeded, batch_size=8, num_workers=num_workers):
            for m in MODALITIES:
                parts[m].append(batch[m])
    clips = {m: torch.cat(x) for m, x in parts.items()}
    with atomic_file(out, overwrite, [source]) as tmp:
        save_clips(tmp, clips, cfg.roi, model=model, source=utf8_name(str(source)))
    return Path(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``avpet cache SOURCE --model NAME --out FILE``."""
    parser.add_argument("source", help="folder or CSV manifest of videos")
    parser.add_argument("--model", required=True, help="model whose input spec to decode for")
    parser.add_argument("--out", required=True, help="output .safetensors file")
    parser.add_argument("--limit", type=int, help="use the first N videos only")
    add_roi_box_argument(parser, "recorded in the file for pretraining")
    parser.add_argument("--num-workers", type=int, default=0, help="decoding processes")
    parser.add_argument(
        "--views",
        type=int,
        default=0,
        help="K augmented training views per video (random starts, view k seeded by k); "
        "default: one view at uniform starts, no augmentation",
    )
    parser.add_argument("--num-clips", type=int, help="clips per sequence (default: the model's)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(args: argparse.Namespace) -> int:
    """Decode the videos and print where the cache was written."""
    roi = parse_roi_box(args.roi)
    path = build_cache(
        args.source,
        args.model,
        args.out,
        args.limit,
        roi,
        args.num_workers,
        args.views,
        args.num_clips,
        args.overwrite,
    )
    print(f"wrote {path}")
    return 0

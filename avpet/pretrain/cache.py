"""Decode videos once into a clip cache that pretraining reads as ``data.train``.

``python -m avpet.pretrain.cache SOURCE --model NAME --out clips.safetensors [--limit N]
[--roi TOP BOTTOM LEFT RIGHT] [--views K] [--num-clips T]``: SOURCE is a folder or CSV manifest of
videos; each video gives one sequence of ``T`` clips (default: the model's ``num_clips``) at
uniform starts (no augmentation), or, with ``--views K``, K training views (random clip starts and
the training augmentations, view k seeded by k), stored as ``visual`` [N·K, T, 3, F, H, W] and
``audio`` [N·K, T, 1, M, L] (log-mel) or [N·K, T, S] (a waveform model such as VATT), as the
model's input spec says. Useful where decoding is the bottleneck (small CPUs, tests); training
from a cache sees the same clips every epoch, so several views make up for part of the
augmentation it loses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Subset

from ..data import VideoDataset, resolve_data_config
from ..errors import AvpetError, ConfigError, report
from ..outputs import atomic_file, check_output, utf8_name
from ..registry import get_pretrained_cfg
from .data import SeededItems


def build_cache(
    source: str | Path,
    model: str,
    out: str | Path,
    limit: int | None = None,
    roi: tuple[int, int, int, int] | None = None,
    num_workers: int = 0,
    views: int = 0,
    num_clips: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Decode up to ``limit`` videos of ``source`` for ``model``'s input spec into ``out``
    (``views`` augmented training views per video, or one uniform view if 0; ``num_clips`` clips
    per sequence instead of the model's). An existing ``out`` is refused unless ``overwrite``."""
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1 video, got {limit}")
    if views < 0:
        raise ConfigError(f"views must be >= 0, got {views}")
    check_output(out, [source], overwrite)
    overrides = {} if num_clips is None else {"num_clips": num_clips}
    cfg = resolve_data_config(get_pretrained_cfg(model), roi=roi, **overrides)
    dataset = VideoDataset(source, cfg, is_training=views > 0)
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    visual, audio = [], []
    for view in range(max(views, 1)):
        seeded = SeededItems(dataset, seed=view)
        for batch in DataLoader(seeded, batch_size=8, num_workers=num_workers):
            visual.append(batch["visual"])
            audio.append(batch["audio"])
    with atomic_file(out, overwrite, [source]) as tmp:
        save_file(
            {"visual": torch.cat(visual).contiguous(), "audio": torch.cat(audio).contiguous()},
            str(tmp),
            metadata={"model": model, "source": utf8_name(str(source)), "roi": str(roi)},
        )
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avpet.pretrain.cache", description=__doc__)
    parser.add_argument("source", help="folder or CSV manifest of videos")
    parser.add_argument("--model", required=True, help="model whose input spec to decode for")
    parser.add_argument("--out", required=True, help="output .safetensors file")
    parser.add_argument("--limit", type=int, help="use the first N videos only")
    parser.add_argument("--roi", type=int, nargs=4, metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"))
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--views", type=int, default=0, help="augmented views per video")
    parser.add_argument("--num-clips", type=int, help="clips per sequence (default: the model's)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    try:
        path = build_cache(
            args.source,
            args.model,
            args.out,
            args.limit,
            tuple(args.roi) if args.roi else None,
            args.num_workers,
            args.views,
            args.num_clips,
            args.overwrite,
        )
    except AvpetError as error:
        return report("avpet.pretrain.cache", error)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``avpet search``: where in the indexed collection a sound (or a picture) belongs.

:func:`search_file` embeds the query span of one file the way the index was built and finds the
spans of the indexed videos whose other modality goes with it, clip for clip
(:func:`~avpet.search.spans.find_spans`), so a query cut from the middle of a long video finds its
own time span.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch

from ..arguments import add_overwrite_argument, add_threads_argument, warn_if_random
from ..data.config import resolve_data_config
from ..data.stream import Coverage
from ..errors import ConfigError, MediaError
from ..extras import require
from ..features import extract_features
from ..outputs import check_output
from .index import MODALITIES, ClipIndex, Hit
from .indexing import embedding_model
from .spans import distinct, find_spans

# Query clips per index stride, chosen on validation clips (experiments/search_long.py;
# docs/search.md, "Search inside long videos"): at 1 a query half a stride off the index's grid
# found its own span 0.08-0.11 of the time; at 8, 0.99-1.00 (sound) and 0.93-0.95 (picture) on
# and off the grid, and whole short files as often as at 1.
PHASES = 8


def search_file(
    index: ClipIndex,
    model: torch.nn.Module,
    query: str | Path,
    modality: str,
    start: float = 0.0,
    end: float | None = None,
    top: int = 5,
    threads: int | None = None,
    phases: int = PHASES,
) -> list[Hit]:
    """The ``top`` spans of ``index`` whose other modality goes with ``modality`` (``"audio"`` or
    ``"visual"``) of ``query`` between ``start`` and ``end`` seconds; ``model``:
    :func:`~avpet.search.indexing.embedding_model` of the index; ``threads``: CPU threads
    (:func:`avpet.threads.plan`). The query's clips start ``stride/phases`` apart, so that a query
    whose start falls between the index's clip starts still has a phase that lines up with them
    (:func:`~avpet.search.spans.find_spans`)."""
    if modality not in MODALITIES:
        raise ConfigError(f"the query modality is audio or visual, got {modality!r}")
    if phases < 1:
        raise ConfigError(f"phases must be >= 1, got {phases}")
    stride = index.stride or resolve_data_config(model).input.clip_seconds
    coverage = Coverage(stride=stride / phases, start=start, end=end)
    record = next(
        extract_features(
            [query], model, roi=index.crop, coverage=coverage, on_error="raise", threads=threads
        )
    )
    if not (record.has_audio if modality == "audio" else record.has_visual):
        raise MediaError(query, f"has no {modality} stream to search with")
    clips = record.features[f"{modality}_{index.level}"].float().numpy()
    return distinct(find_spans(index, clips, modality, None, phases), top)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet search``."""
    parser.add_argument("index", type=Path, help="an index folder made by avpet index")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument(
        "--audio", metavar="FILE", help="find the clips whose picture goes with this sound"
    )
    query.add_argument(
        "--video", metavar="FILE", help="find the clips whose sound goes with this picture"
    )
    parser.add_argument("--start", type=float, default=0.0, help="query span start (seconds)")
    parser.add_argument("--end", type=float, default=None, help="query span end (seconds)")
    parser.add_argument("--top", type=int, default=5, help="how many results (default 5)")
    parser.add_argument(
        "--phases",
        type=int,
        default=PHASES,
        metavar="N",
        help=f"cut the query's clips N per index stride (default {PHASES})",
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw the results' frames")
    add_overwrite_argument(parser, "an existing --plot file")
    add_threads_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON list last")


def run(args: argparse.Namespace) -> int:
    """``avpet search INDEX --audio FILE | --video FILE``."""
    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    modality, query = ("audio", args.audio) if args.audio else ("visual", args.video)
    if args.plot:
        require("plot", "avpet search --plot")
        check_output(args.plot, [query, args.index], args.overwrite)
    index = ClipIndex.load(args.index)
    warn_if_random("search", index.model, index.pretrained)
    hits = search_file(
        index,
        embedding_model(index),
        query,
        modality,
        args.start,
        args.end,
        args.top,
        args.threads,
        args.phases,
    )
    if args.plot:
        from .plot import plot_hits

        plot_hits(hits, args.plot, args.overwrite, [query])
    rows = [{"rank": rank, **asdict(hit)} for rank, hit in enumerate(hits, start=1)]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            rank, score, start, end = row["rank"], row["score"], row["start"], row["end"]
            print(f"{rank:>3}  {score:.3f}  {start:8.2f}-{end:.2f} s  {row['video']}")
    return 0

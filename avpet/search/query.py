"""``avpet search``: where in the indexed collection a sound (or a picture) belongs.

:func:`search_file` embeds the query span of one file the way the index was built and compares
it with the other modality of the index. A one-clip query is answered clip by clip; a longer one
by the video spans whose consecutive clips agree with the query's consecutive clips: each query
clip's best matches vote for the span start they imply, and a span's score is the sum of its
votes over the query's clip count (the mean cosine when every clip agrees), so a query cut from
the middle of a long video finds its own time span.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..data.stream import Coverage
from ..errors import ConfigError, MediaError
from ..extras import require
from ..features import extract_features
from .index import ClipIndex, Hit
from .indexing import _crop, embedding_model

OTHER = {"visual": "audio", "audio": "visual"}
CANDIDATES = 50  # matches kept per query clip before the spans vote


def search_file(
    index: ClipIndex,
    model: torch.nn.Module,
    query: str | Path,
    modality: str,
    start: float = 0.0,
    end: float | None = None,
    top: int = 5,
) -> list[Hit]:
    """The ``top`` clips (or spans) of ``index`` whose other modality goes with ``modality``
    (``"audio"`` or ``"visual"``) of ``query`` between ``start`` and ``end`` seconds; ``model``:
    :func:`~avpet.search.indexing.embedding_model` of the index."""
    if modality not in OTHER:
        raise ConfigError(f"the query modality is audio or visual, got {modality!r}")
    coverage = Coverage(start=start, end=end)
    record = next(
        extract_features([query], model, roi=_crop(index.roi), coverage=coverage, on_error="raise")
    )
    if not (record.has_audio if modality == "audio" else record.has_visual):
        raise MediaError(query, f"has no {modality} stream to search with")
    queries = record.features[f"{modality}_{index.level}"].float().numpy()
    scores, rows = index.search(queries, OTHER[modality], top=max(top, CANDIDATES))
    if len(queries) == 1:
        return index.hits(rows[0][:top], scores[0][:top])
    offsets = (record.start - record.start[0]).numpy()
    return _vote(index, scores, rows, offsets, float(record.end[-1] - record.start[0]), top)


def _vote(
    index: ClipIndex,
    scores: np.ndarray,
    rows: np.ndarray,
    offsets: np.ndarray,
    span: float,
    top: int,
) -> list[Hit]:
    """Spans of ``span`` seconds: query clip ``k`` (``offsets[k]`` seconds into the query)
    matching row ``r`` votes ``score`` for the span starting ``start[r] - offsets[k]`` in ``r``'s
    video (starts rounded to the clip length)."""
    clip = float(np.median(index.ends - index.starts)) or 1.0
    votes: dict[tuple[int, int], float] = defaultdict(float)
    for k, offset in enumerate(offsets):
        voted = set()
        for row, score in zip(rows[k], scores[k], strict=True):
            if row < 0:
                continue
            key = (int(index.video_ids[row]), round((index.starts[row] - offset) / clip))
            if key not in voted:  # one vote per query clip and span
                voted.add(key)
                votes[key] += float(score)
    best = sorted(votes, key=votes.__getitem__, reverse=True)[:top]
    return [
        Hit(
            index.videos[video],
            max(slot * clip, 0.0),
            max(slot * clip, 0.0) + span,
            votes[(video, slot)] / len(offsets),
        )
        for video, slot in best
    ]


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
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw the results' frames")
    parser.add_argument("--json", action="store_true", help="print one JSON list last")


def run(args: argparse.Namespace) -> int:
    """``avpet search INDEX --audio FILE | --video FILE``."""
    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    if args.plot:
        require("plot", "avpet search --plot")
    index = ClipIndex.load(args.index)
    modality, query = ("audio", args.audio) if args.audio else ("visual", args.video)
    hits = search_file(
        index, embedding_model(index), query, modality, args.start, args.end, args.top
    )
    if args.plot:
        from .plot import plot_hits

        plot_hits(hits, args.plot)
    rows = [{"rank": rank, **asdict(hit)} for rank, hit in enumerate(hits, start=1)]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            rank, score, start, end = row["rank"], row["score"], row["start"], row["end"]
            print(f"{rank:>3}  {score:.3f}  {start:8.2f}-{end:.2f} s  {row['video']}")
    return 0

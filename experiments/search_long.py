"""Search inside long videos: GRID sentences concatenated into 2-minute videos, each sentence's own
audio (or picture) as the query, on and off the index's clip grid (docs/search.md).

    python experiments/search_long.py ../shared/data/grid_s1 --part val     # choose on these
    python experiments/search_long.py ../shared/data/grid_s1 --part test    # report once

``--part val``: clips of the training split (experiments/grid_split.py; no choice was made on
them); ``test``: the test split's clips after the first 20 (``tests/test_search.py`` uses those),
which pretraining never saw. ``--videos`` long videos of ``--sentences`` sentences each are
written under ``runs/search_long/`` (``tests/conftest.py``'s ``concatenate``, PyAV).

A query is ``--length`` seconds of a sentence's own file starting ``offset`` seconds into it, cut
as ``avpet search --start OFFSET --end OFFSET+LENGTH`` cuts it: on the grid (the query's start
falls on an index clip start of the long video) and half an index stride off it (the worst case).
Correct: the hit lies in the right long video and overlaps the query's true span by an IoU of at
least 0.5. Printed per index stride and per number of query phases (``avpet.search.query``:
the query is also cut at ``j·stride/P`` later and each hit moved back by as much): top-1, top-5,
the index's clips per minute of video (its cost against ``avpet extract``'s consecutive clips).
The joint level (``tokens``) embeds each clip alone, so the rows of one extraction at the finest
stride serve every coarser one, and one of the query file at 0.04 s serves every start.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from avpet.data.config import resolve_data_config
from avpet.data.grid import find_clips, split_clips, subset
from avpet.data.stream import Coverage
from avpet.factory import create_model
from avpet.features import extract_features
from avpet.search.index import ClipIndex, Hit
from avpet.search.spans import distinct, find_spans, overlap

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from conftest import concatenate  # noqa: E402  (the suite's GRID concatenation)

TAG = "avpet_small_mid_lowrank.grid_s1"
WORK = Path("runs/search_long")
FINE = 0.04  # one frame: the query files' extraction
STRIDES = (0.64, 0.32, 0.16)
PHASES = (1, 2, 4)


def rows_at(record, starts: np.ndarray, level: str, modality: str) -> np.ndarray:
    """Rows of ``record`` (extracted at a fine stride) whose clips start at ``starts``."""
    index = np.searchsorted(record.start.numpy(), starts - 1e-6)  # the row starting at each
    return record.features[f"{modality}_{level}"][index].float().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--part", choices=("val", "test"), default="val")
    parser.add_argument("--videos", type=int, default=2, help="long videos")
    parser.add_argument("--sentences", type=int, default=40, help="sentences per long video")
    parser.add_argument("--length", type=float, default=2.0, help="query seconds")
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.0])
    args = parser.parse_args()
    train, test = split_clips(find_clips(args.data / "video", args.data / "align"), 0.8)
    count = args.videos * args.sentences
    clips = subset(train, count) if args.part == "val" else test[20 : 20 + count]
    model = create_model(TAG, pretrained=True).eval()
    torch.manual_seed(0)
    clip_seconds = resolve_data_config(model).input.clip_seconds
    level = model.joint_level
    longs, truth = [], []  # truth: (long video, sentence start) per clip
    for v in range(args.videos):
        part = clips[v * args.sentences : (v + 1) * args.sentences]
        path = WORK / f"{args.part}_{v}_{len(part)}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            partial = path.with_suffix(".partial.mp4")
            concatenate([c.video for c in part], partial)
            partial.replace(path)
        starts = [3.0 * i for i in range(len(part))]  # GRID sentences: 75 frames at 25 fps
        longs.append(str(path.resolve()))
        truth += [(str(path.resolve()), s) for s in starts]
    finest = min(STRIDES)
    long_rows = {r.path: r for r in extract_features(longs, model, coverage=Coverage(finest))}
    queries = {
        r.path: r
        for r in extract_features([c.video for c in clips], model, coverage=Coverage(FINE))
    }
    minutes = sum(float(r.duration) for r in long_rows.values()) / 60
    print(
        f"{args.part}: {args.videos} videos of {args.sentences} GRID sentences "
        f"({minutes:.1f} min), queries of {args.length} s at offsets {args.offsets}"
    )
    print(f"stride phases modality grid  top-1 top-5  clips/min (extract: {60 / clip_seconds:.0f})")
    for stride in STRIDES:
        index = ClipIndex(TAG, level, model.feature_level(level).dims["visual"], stride=stride)
        step = round(stride / finest)
        for path in longs:
            r = long_rows[path]
            keep = slice(None, None, step)
            index.add(
                path,
                r.start.numpy()[keep],
                np.minimum(r.end.numpy()[keep], r.duration),
                {m: r.features[f"{m}_{level}"].numpy()[keep] for m in ("visual", "audio")},
            )
        for phases in PHASES:
            for modality in ("audio", "visual"):
                for grid in ("on", "off"):
                    top1 = top5 = 0
                    for clip, (long, start) in zip(clips, truth, strict=True):
                        for offset in args.offsets:
                            at = start + offset
                            snap = np.ceil(at / stride - 1e-6) * stride  # next grid point
                            begin = snap - start + (stride / 2 if grid == "off" else 0.0)
                            hits = search_phases(
                                index,
                                queries[str(clip.video)],
                                begin,
                                args.length,
                                modality,
                                phases,
                                level,
                                clip_seconds,
                            )
                            want = Hit(long, start + begin, start + begin + args.length, 0.0)
                            good = [h.video == long and overlap(h, want) >= 0.5 for h in hits]
                            top1 += good[0]
                            top5 += any(good)
                    n = len(clips) * len(args.offsets)
                    rows_per_min = len(index) / minutes
                    print(
                        f"{stride:6.2f} {phases:6d} {modality:8} {grid:4} {top1 / n:6.3f} "
                        f"{top5 / n:5.3f}  {rows_per_min:6.0f}",
                        flush=True,
                    )


def search_phases(index, record, begin, length, modality, phases, level, clip):
    """Hits of the query ``record[begin : begin + length]`` cut at ``phases`` phases of the
    index stride, each moved back by its phase, as :func:`avpet.search.query.search_file` does
    (here on rows extracted once at 0.04 s)."""
    hits = []
    for j in range(phases):
        shift = j * index.stride / phases
        starts = np.arange(begin + shift, begin + length - clip + 1e-6, index.stride)
        if len(starts) == 0:
            starts = np.array([begin + shift])
        query = rows_at(record, np.round(starts / FINE) * FINE, level, modality)
        for h in find_spans(index, query, modality, top=5):
            hits.append(replace(h, start=max(h.start - shift, 0.0), end=h.end - shift))
    return distinct(hits, 5)


if __name__ == "__main__":
    main()

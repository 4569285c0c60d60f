"""Search inside long videos, and whole short videos: GRID sentences concatenated into 2-minute
videos, each sentence's own audio (or picture) as the query, on and off the index's clip grid, and
each sentence whole against a gallery of sentence files (docs/search.md).

    python experiments/search_long.py ../shared/data/grid_s1 --part val     # choose on these
    python experiments/search_long.py ../shared/data/grid_s1 --part test    # report once

``--part val``: clips of the training split (experiments/grid_split.py; no choice was made on
them); ``test``: the test split's clips after the first 20 (``tests/test_search.py`` uses those),
which pretraining never saw. ``--videos`` long videos of ``--sentences`` sentences each are
written under ``runs/search_long/`` (``tests/conftest.py``'s ``concatenate``, PyAV).

``long``: a query is ``--length`` seconds of a sentence's own file, cut as ``avpet search --start
S --end S+LENGTH`` cuts it, starting ``--offsets`` index strides after a clip start of the long
video (0: on the index's grid; 0.5: half a stride off it, the worst case); right when the hit lies
in the right long video and overlaps the query's true span by an IoU of 0.5 or more.
``gallery``: a sentence's whole file against an index of ``--gallery`` sentence files
(``tests/test_search.py``'s case); right when the hit is its own file. Printed per index stride
and number of query phases (:func:`avpet.search.spans.find_spans`): top-1, top-5, and the index's
clips per minute of video (its cost against ``avpet extract``'s consecutive clips). The joint
level (``tokens``) embeds each clip alone, so one extraction of every file at one frame's stride
(kept under ``runs/``) serves every index stride and every query start.
"""

from __future__ import annotations

import argparse
import sys
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
FINE = 0.04  # one frame: every file's extraction
MODALITIES = ("audio", "visual")


class Fine:
    """One file's clips at every frame (``record`` extracted at ``FINE``), cut as ``avpet index``
    and ``avpet search`` cut them."""

    def __init__(self, record, level: str, clip_seconds: float):
        self.path, self.duration, self.clip = record.path, float(record.duration), clip_seconds
        self.start = record.start.numpy()
        self.rows_of = {m: record.features[f"{m}_{level}"].float().numpy() for m in MODALITIES}

    def starts(self, stride: float, start: float = 0.0, end: float | None = None) -> np.ndarray:
        """Clip starts of :class:`Coverage` ``(stride, start, end)``, on the frame grid."""
        cut = Coverage(stride, start=start, end=end).starts(self.path, self.duration, self.clip)
        return np.round(np.array(cut) / FINE) * FINE

    def rows(self, starts: np.ndarray, modality: str) -> np.ndarray:
        """The clips of ``modality`` starting at ``starts``."""
        return self.rows_of[modality][np.searchsorted(self.start, starts - 1e-6)]

    def add_to(self, index: ClipIndex) -> None:
        """This file's rows at ``index.stride``, as ``avpet index`` adds them."""
        starts = self.starts(index.stride)
        ends = np.minimum(starts + self.clip, self.duration)
        index.add(self.path, starts, ends, {m: self.rows(starts, m) for m in MODALITIES})

    def search(self, index, modality, phases, start=0.0, end=None) -> list[Hit]:
        """``avpet search INDEX --MODALITY FILE --start START --end END --phases PHASES``."""
        starts = self.starts(index.stride / phases, start, end)
        return distinct(find_spans(index, self.rows(starts, modality), modality, None, phases), 5)


def extracted(paths: list[str], model, name: str) -> dict[str, Fine]:
    """Every file of ``paths`` at one frame's stride, by its path as given; cached in ``runs/``
    as ``name``."""
    cache = WORK / f"{name}.pt"
    if cache.is_file():
        records = torch.load(cache, weights_only=False)
    else:
        records = list(extract_features(paths, model, coverage=Coverage(FINE)))
        torch.save(records, cache)
    clip = resolve_data_config(model).input.clip_seconds
    found = {str(Path(r.path).resolve()): Fine(r, model.joint_level, clip) for r in records}
    return {path: found[str(Path(path).resolve())] for path in paths}


def long_videos(clips: list, part: str, videos: int, sentences: int) -> list[list]:
    """``videos`` long videos of ``sentences`` clips each: (path, [(clip, start)]) per video."""
    longs = []
    for v in range(videos):
        group = clips[v * sentences : (v + 1) * sentences]
        path = WORK / f"{part}_{v}_{len(group)}.mp4"
        if not path.is_file():
            partial = path.with_suffix(".partial.mp4")
            concatenate([c.video for c in group], partial)
            partial.replace(path)
        starts = [3.0 * i for i in range(len(group))]  # GRID sentences: 75 frames at 25 fps
        longs.append((str(path.resolve()), list(zip(group, starts, strict=True))))
    return longs


def long_case(index, longs, queries, stride, phases, modality, off, length) -> list[list[bool]]:
    """Per query: which of its hits lie on its own span of its long video, the query starting
    ``off`` strides after a clip start of the long video."""
    results = []
    for long, parts in longs:
        for clip, start in parts:
            snap = np.ceil(start / stride - 1e-6) * stride  # the next grid point
            begin = snap - start + off * stride
            hits = queries[str(clip.video)].search(index, modality, phases, begin, begin + length)
            want = Hit(long, start + begin, start + begin + length, 0.0)
            results.append([h.video == long and overlap(h, want) >= 0.5 for h in hits])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--part", choices=("val", "test"), default="val")
    parser.add_argument("--videos", type=int, default=2, help="long videos")
    parser.add_argument("--sentences", type=int, default=40, help="sentences per long video")
    parser.add_argument("--length", type=float, default=2.0, help="query seconds (long)")
    parser.add_argument(
        "--offsets", type=float, nargs="+", default=[0, 0.125, 0.25, 0.5], help="in strides"
    )
    parser.add_argument("--gallery", type=int, nargs="+", default=[20, 80], help="files each")
    parser.add_argument("--strides", type=float, nargs="+", default=[0.64, 0.32, 0.16])
    parser.add_argument("--phases", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    train, test = split_clips(find_clips(args.data / "video", args.data / "align"), 0.8)
    count = args.videos * args.sentences
    clips = subset(train, count) if args.part == "val" else test[20 : 20 + count]
    WORK.mkdir(parents=True, exist_ok=True)
    model = create_model(TAG, pretrained=True).eval()
    clip_seconds = resolve_data_config(model).input.clip_seconds
    longs = long_videos(clips, args.part, args.videos, args.sentences)
    name = f"{args.part}_{args.videos}x{args.sentences}"
    long_rows = extracted([path for path, _ in longs], model, f"{name}_long")
    queries = extracted([str(c.video) for c in clips], model, f"{name}_sentences")
    minutes = sum(r.duration for r in long_rows.values()) / 60
    print(
        f"{args.part}: {args.videos} videos of {args.sentences} GRID sentences ({minutes:.1f} "
        f"min), queries of {args.length} s, starting {args.offsets} strides after a clip start; "
        f"galleries of {args.gallery} sentence files"
    )
    files = [queries[str(c.video)] for c in clips]
    galleries = {n: [files[g : g + n] for g in range(0, count, n)] for n in args.gallery}
    extract = 60 / clip_seconds
    print(f"stride phases modality case       top-1 top-5  clips/min (extract: {extract:.0f})")
    for stride in args.strides:
        index = ClipIndex(
            TAG,
            model.joint_level,
            model.feature_level(model.joint_level).dims["visual"],
            stride=stride,
        )
        for rows in long_rows.values():
            rows.add_to(index)
        cost = len(index) / minutes
        for phases in args.phases:
            if stride / phases < FINE - 1e-9:
                continue
            for modality in MODALITIES:
                cases = {
                    f"off {off:g}": long_case(
                        index, longs, queries, stride, phases, modality, off, args.length
                    )
                    for off in args.offsets
                }
                for size, groups in galleries.items():
                    cases[f"gallery {size}"] = gallery_case(groups, stride, phases, modality)
                for case, results in cases.items():
                    top1 = np.mean([any(r[:1]) for r in results])
                    top5 = np.mean([any(r) for r in results])
                    print(
                        f"{stride:6.2f} {phases:6d} {modality:8} {case:10} {top1:5.3f} "
                        f"{top5:5.3f}  {cost:6.0f}",
                        flush=True,
                    )


def gallery_case(galleries, stride, phases, modality) -> list[list[bool]]:
    """Per sentence: which of its hits are its own file, in an index of its gallery."""
    results = []
    for files in galleries:
        index = ClipIndex(TAG, "", files[0].rows_of["audio"].shape[1], stride=stride)
        for rows in files:
            rows.add_to(index)
        for rows in files:
            results.append([h.video == rows.path for h in rows.search(index, modality, phases)])
    return results


if __name__ == "__main__":
    main()

"""``avpet sync VIDEO... [--json] [--plot PNG] [--csv FILE] [--fix OUT]``: is the sound in sync
with the picture, by how many frames is it off, and how sure is that.

PATHs are files, folders, globs or manifests, as for ``avpet extract``. Each video gets one line
(``--json``: one JSON object per line, the last line a JSON list of them all); an unusable video
gets one error line on stderr and the others go on (exit status 3 if any failed).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ..arguments import (
    add_overwrite_argument,
    add_pretrained_argument,
    add_roi_argument,
    add_threads_argument,
    parse_roi,
    warn_if_random,
)
from ..data.sources import find_media
from ..errors import EXIT_ERROR, ConfigError, MediaError
from ..hub.sources import weights_request
from ..outputs import atomic_file, check_output
from ..threads import configure
from .fix import container_of, ffmpeg_command, write_aligned
from .plot import plot_scores
from .scorer import DEFAULT_MODEL, SyncResult, SyncScorer
from .trust import MIN_CONFIDENCE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet sync``."""
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="videos, folders, globs, manifests"
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"default: {DEFAULT_MODEL}")
    add_pretrained_argument(parser)
    add_roi_argument(parser)
    parser.add_argument(
        "--search-frames", type=int, default=15, help="offsets tried either way (default 15)"
    )
    parser.add_argument(
        "--window", type=float, default=2.0, help="seconds per estimate over time (default 2)"
    )
    parser.add_argument("--json", action="store_true", help="JSON lines, then a JSON list")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw score against offset")
    parser.add_argument(
        "--csv", type=Path, metavar="FILE", help="one row per video, least confident first"
    )
    parser.add_argument(
        "--fix",
        type=Path,
        metavar="OUT",
        help="write a re-aligned copy (one video only; only if the estimate is reliable: "
        f"confidence >= {MIN_CONFIDENCE}, windows agreeing)",
    )
    parser.add_argument(
        "--force", action="store_true", help="--fix even an unreliable estimate (a guess)"
    )
    add_overwrite_argument(parser)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    """``avpet sync``: score each video, then write what was asked for."""
    roi, swallowed = parse_roi(args.roi)
    paths = swallowed + args.paths
    if not paths:
        raise ConfigError("give at least one PATH (a video file, folder, glob or manifest)")
    sources = find_media(paths)
    inputs = [*paths, *(s.path for s in sources)]
    if args.fix is not None and len(sources) != 1:
        raise ConfigError(f"--fix writes one re-aligned copy: give one video, not {len(sources)}")
    for out in (args.plot, args.csv, args.fix):
        if out is not None:
            check_output(out, inputs, args.overwrite)
    if args.fix is not None:
        container_of(args.fix)  # a format it can write, before any work
    pretrained = weights_request(args.model, args.pretrained)
    warn_if_random("sync", args.model, pretrained)
    scorer = SyncScorer(args.model, pretrained, roi, args.search_frames, args.window, args.device)
    configure(args.threads)  # one process reads, then scores: torch has the budget
    results, failures = [], []
    for source in sources:
        try:
            result = scorer(source.path)
        except MediaError as error:
            print(f"avpet sync: error: {error}", file=sys.stderr)
            failures.append(error)
            continue
        results.append(result)
        print(json.dumps(result.to_dict()) if args.json else describe(result), flush=True)
    if args.json:
        print(json.dumps([r.to_dict() for r in results] + [_failed(e) for e in failures]))
    if args.plot is not None and results:
        plot_scores(results, args.plot, args.overwrite, inputs)
    if args.csv is not None:
        write_csv(args.csv, results, failures, args.overwrite, inputs)
    if args.fix is not None and results:
        result = results[0]
        if result.doubt and not args.force:
            print(
                f"avpet sync: error: not writing {args.fix}: the estimate of {result.path} is "
                f"unreliable ({result.doubt}); --force writes it anyway",
                file=sys.stderr,
            )
            return EXIT_ERROR
        write_aligned(result.path, args.fix, result.offset_seconds, args.overwrite)
        guess = f" (forced: an unreliable estimate, {result.doubt})" if result.doubt else ""
        print(
            f"wrote {args.fix}: the audio moved {result.offset_seconds:+.3f} s earlier{guess} "
            f"(the same as: {ffmpeg_command(result.path, args.fix, result.offset_seconds)})"
        )
    return EXIT_ERROR if failures else 0


def describe(result: SyncResult) -> str:
    """One line for a person: offset, confidence, and the drift over time if there is any."""
    line = (
        f"{result.path}: offset {result.offset_frames:+d} frames ({result.offset_seconds:+.3f} s "
        f"at {result.fps:g} fps), confidence {result.confidence:.3f}, sync score "
        f"{result.sync_score:+.3f}"
    )
    per_window = [w.offset_frames for w in result.windows]
    if max(per_window) - min(per_window) > 1:
        line += f"; per {len(per_window)} windows: {' '.join(f'{o:+d}' for o in per_window)}"
    if result.doubt:
        line += f"; UNRELIABLE ({result.doubt}): a guess"
    return line


CSV_FIELDS = (
    "path",
    "status",
    "offset_frames",
    "offset_seconds",
    "confidence",
    "sync_score",
    "reliable",
    "error",
)


def write_csv(path: Path, results, failures, overwrite: bool, inputs) -> None:
    """Failed videos first, then the others from the least to the most confident."""
    rows = [{"path": e.path, "status": "error", "error": e.reason} for e in failures]
    for r in sorted(results, key=lambda r: r.confidence):
        rows.append(
            {
                "path": r.path,
                "status": "done",
                "offset_frames": r.offset_frames,
                "offset_seconds": f"{r.offset_seconds:.3f}",
                "confidence": f"{r.confidence:.4f}",
                "sync_score": f"{r.sync_score:.4f}",
                "reliable": r.reliable,
            }
        )
    with (
        atomic_file(path, overwrite, inputs) as tmp,
        open(tmp, "w", newline="", errors="surrogateescape") as f,
    ):
        writer = csv.DictWriter(f, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _failed(error: MediaError) -> dict:
    return {"path": error.path, "error": error.reason}

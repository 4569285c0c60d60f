"""``avpet extract PATH... --model NAME --out DIR``: features of whole videos, one file each.

PATHs are files, folders, globs or manifests (:mod:`avpet.data.sources`). Every video is covered
by consecutive clips from start to end (:class:`~avpet.data.stream.Coverage`) and written to
``DIR/<name>.safetensors`` (:mod:`avpet.features.store`; ``<name>`` mirrors the input tree), with
``DIR/index.csv`` listing each video's status. A rerun skips the videos the index lists as done
whose file is still there (``--overwrite`` redoes them).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from . import __version__
from .cli import add_pretrained_argument, add_roi_argument, add_threads_argument, parse_roi
from .config import to_dict
from .data.sources import find_media
from .data.stream import Coverage
from .errors import ConfigError, MediaError
from .features import ExtractCfg, prepare
from .features.pipeline import run as run_pipeline
from .features.store import INDEX, Index, save_features
from .hub.sources import weights_request
from .outputs import check_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet extract``."""
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="media files, folders, globs or manifests"
    )
    parser.add_argument("--model", required=True, help="model name, optionally NAME.TAG")
    add_pretrained_argument(parser)
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    add_roi_argument(parser)
    parser.add_argument("--clip-stride", type=float, help="seconds between clip starts")
    parser.add_argument("--num-clips", type=int, help="at most N clips per video, evenly spaced")
    parser.add_argument("--start", type=float, default=0.0, help="start of the span (seconds)")
    parser.add_argument("--end", type=float, help="end of the span (seconds; default: the end)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per model call")
    parser.add_argument("--workers", type=int, default=2, help="videos decoded at once (threads)")
    add_threads_argument(parser)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    parser.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: autocast the model"
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "decord", "pyav"],
        help="video decoder (default auto: decord, PyAV where decord fails)",
    )
    parser.add_argument(
        "--on-error",
        default="raise",
        choices=["raise", "skip"],
        help="on an unusable video: stop with an error, or record it in the index and go on",
    )
    parser.add_argument("--overwrite", action="store_true", help="redo videos already done")
    parser.add_argument("--seed", type=int, default=0, help="seed of a randomly initialised model")


def run(args: argparse.Namespace) -> int:
    """``avpet extract``: write each video's features under ``--out`` and list them in the index."""
    torch.manual_seed(args.seed)
    cfg = ExtractCfg(
        coverage=Coverage(args.clip_stride, args.num_clips, args.start, args.end),
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
    )
    roi, swallowed = parse_roi(args.roi)
    if not swallowed + args.paths:
        raise ConfigError("give at least one PATH (a media file, folder, glob or manifest)")
    sources = find_media(swallowed + args.paths)
    inputs = [*swallowed, *args.paths, *(s.path for s in sources)]
    check_output(args.out, inputs, overwrite=True, folder=True)  # never over a video or a file
    index = Index(args.out)
    if not args.overwrite and index.models() - {args.model}:
        raise ConfigError(
            f"{args.out / INDEX} lists features of {sorted(index.models())}; use another --out "
            "or --overwrite"
        )
    pretrained = weights_request(args.model, args.pretrained)  # NAME.TAG loads its weights
    model, transform, cfg = prepare(args.model, pretrained, roi, cfg, backend=args.backend)
    todo = [s for s in sources if args.overwrite or not index.done(s.path, args.model)]
    metadata = {
        "model": args.model,
        "pretrained": str(pretrained) if pretrained else "none",
        "input_spec": json.dumps(to_dict(transform.cfg.input)),
        "roi": json.dumps(transform.cfg.roi),
        "avpet_version": __version__,
    }
    done = failed = 0
    seconds, started = 0.0, time.monotonic()
    bar = tqdm(total=len(todo), desc="avpet extract", unit="video", disable=None)
    try:
        for source, result in run_pipeline(todo, model, transform, cfg):
            output = source.name + ".safetensors"
            if isinstance(result, MediaError):
                index.record(
                    path=source.path, status="error", error=result.reason, model=args.model
                )
                if args.on_error == "raise":
                    raise result
                failed += 1
            else:
                save_features(replace(result, metadata=metadata), args.out / output)
                index.record(
                    path=source.path,
                    output=output,
                    status="done",
                    duration=f"{result.duration:.3f}",
                    clips=result.num_clips,
                    model=args.model,
                )
                done += 1
                seconds += result.duration
            bar.update()
            bar.set_postfix(realtime=f"{seconds / (time.monotonic() - started):.1f}x")
    finally:
        bar.close()
        index.flush()
    print(
        f"{done} video(s) done, {len(sources) - len(todo)} already done, {failed} failed; "
        f"index: {args.out / INDEX}"
    )
    return 0

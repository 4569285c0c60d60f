"""``avpet extract PATH... --model NAME --out DIR``: features of whole videos, one file each.

PATHs are files, folders, globs or manifests (:mod:`avpet.data.sources`). Every video is covered
by consecutive clips from start to end (:class:`~avpet.data.stream.Coverage`) and written to
``DIR/<name>.safetensors`` (:mod:`avpet.features.store`; ``<name>`` mirrors the input tree), with
``DIR/index.csv`` listing each video's status. A rerun skips the videos the index lists as done
whose file is still there (``--overwrite`` redoes them).

Under ``torchrun`` (``RANK`` and ``WORLD_SIZE`` set, on one node or many) each rank takes every
``WORLD_SIZE``-th video still to do, writes its files and its own index part
(``index.rank00001.csv``), and rank 0 merges the parts into ``index.csv`` once every rank is done
(or, after a killed run, at the start of the next).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from . import __version__, ranks
from .arguments import (
    add_pretrained_argument,
    add_roi_argument,
    add_threads_argument,
    parse_roi,
    warn_if_random,
)
from .config import to_dict
from .data.sources import check_distinct_names, find_media
from .data.stream import Coverage
from .errors import ConfigError, MediaError
from .features import ExtractCfg, prepare
from .features.pipeline import run as run_pipeline
from .features.store import INDEX, Index, merge_index_parts, save_features
from .hub.sources import weights_request
from .outputs import check_output, folder_lock


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
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of a randomly initialised model (default 0); giving it says random weights "
        "are meant, which silences their warning",
    )


def run(args: argparse.Namespace) -> int:
    """``avpet extract``: write each video's features under ``--out`` and list them in the index
    (this rank's share of them under torchrun)."""
    with ranks.process_group(ranks.from_env()) as where:
        return _prepare_and_extract(args, where)


def _prepare_and_extract(args: argparse.Namespace, where: ranks.Ranks) -> int:
    torch.manual_seed(args.seed or 0)
    if where.world > 1 and args.device == "cuda":
        args.device = f"cuda:{where.local_rank}"
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
    check_distinct_names(sources)
    inputs = [*swallowed, *args.paths, *(s.path for s in sources)]
    check_output(args.out, inputs, overwrite=True, folder=True)  # never over a video or a file
    _check_models(Index(args.out), args)  # before any work, and again under the lock
    pretrained = weights_request(args.model, args.pretrained)  # NAME.TAG loads its weights
    if args.seed is None and where.is_main:  # a seed says a random model is meant
        warn_if_random("extract", args.model, pretrained)
    model, transform, cfg = prepare(args.model, pretrained, roi, cfg, backend=args.backend)
    # Another run into --out takes its turn, then resumes; under torchrun rank 0 holds the lock
    # for all ranks (they split the videos and write index parts that rank 0 merges).
    waiting = f"avpet extract: another run is writing to {args.out}; waiting for it to finish"
    lock = folder_lock(args.out, waiting) if where.is_main else contextlib.nullcontext()
    with lock:
        if where.is_main:
            merge_index_parts(args.out)  # what a killed distributed run recorded
        ranks.barrier()
        return _extract(sources, model, transform, cfg, pretrained, args, where)


def _check_models(index: Index, args: argparse.Namespace) -> None:
    if not args.overwrite and index.models() - {args.model}:
        raise ConfigError(
            f"{args.out / INDEX} lists features of {sorted(index.models())}; use another --out "
            "or --overwrite"
        )


def _extract(
    sources, model, transform, cfg, pretrained, args: argparse.Namespace, where: ranks.Ranks
) -> int:
    """Extract what ``--out``'s index does not list as done (rank 0 holds the lock)."""
    index = Index(args.out, rank=where.rank if where.world > 1 else None)
    _check_models(index, args)
    todo = [s for s in sources if args.overwrite or not index.done(s.path, args.model)]
    todo = todo[where.rank :: where.world]
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
                tqdm.write(f"avpet extract: skipped {result}", file=sys.stderr)
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
    ranks.barrier()
    if where.is_main:
        merge_index_parts(args.out)
    share = f"rank {where.rank} of {where.world}: " if where.world > 1 else ""
    others = "already done or another rank's" if where.world > 1 else "already done"
    print(
        f"{share}{done} video(s) done, {len(sources) - len(todo)} {others}, {failed} failed; "
        f"index: {args.out / INDEX}"
    )
    return 0

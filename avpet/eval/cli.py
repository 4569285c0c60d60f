"""``avpet eval grid|fsdd``: frozen-feature probes and retrieval on real data (SPEC §5).

Progress goes to stderr; the metrics are printed last on stdout (one JSON object with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from ..cli import add_pretrained_argument
from ..errors import ConfigError
from ..extras import require
from ..hub.sources import weights_request
from .probe import ProbeCfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``avpet eval`` and its two benchmarks."""
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    grid = tasks.add_parser("grid", help="GRID word probes and audio-video retrieval")
    _common(grid)
    data = grid.add_mutually_exclusive_group(required=True)
    data.add_argument("--train", type=Path, help="folder of training .mp4 clips (needs --test)")
    data.add_argument(
        "--data", type=Path, help="a GRID speaker folder (video/, align/), split by --split"
    )
    grid.add_argument("--test", type=Path, help="folder of test .mp4 clips")
    grid.add_argument(
        "--split", type=float, default=0.8, help="training fraction with --data (default 0.8)"
    )
    grid.add_argument(
        "--align", type=Path, help="folder of .align files (default: ../align of each clip folder)"
    )
    grid.add_argument(
        "--limit", type=int, help="use N clips of each split (a fixed pseudo-random pick)"
    )
    grid.add_argument(
        "--roi",
        type=int,
        nargs=4,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        help="crop source pixels before resizing (use the pretraining's crop)",
    )
    grid.add_argument(
        "--backend",
        choices=("auto", "decord", "pyav"),
        default="pyav",
        help="video decoder (default pyav: fastest for reading a few clips per file)",
    )
    grid.add_argument(
        "--plot", type=Path, help="write the test audio-video similarity matrix as PNG here"
    )
    grid.add_argument(
        "--cache",
        type=Path,
        help="keep decoded clips here for the next model with the same input spec and crop",
    )
    fsdd = tasks.add_parser("fsdd", help="FSDD spoken digits, leave-one-speaker-out")
    _common(fsdd)
    fsdd.add_argument("--data", type=Path, required=True, help="FSDD folder (or its recordings/)")
    fsdd.add_argument(
        "--per-digit", type=int, help="use only the first N takes per speaker and digit"
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", help="model name, optionally NAME.TAG (required unless --baseline)"
    )
    add_pretrained_argument(parser)
    parser.add_argument(
        "--baseline", action="store_true", help="handcrafted features instead of a model"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random init and probe folds (default 0)"
    )
    parser.add_argument(
        "--level",
        default="auto",
        help="feature level of the headline metrics: cnn, tokens, unimodal, multimodal, bos "
        "(AVBERT), pooled, joint (VATT, MMV), or select: per probe the level with the best "
        "inner-CV accuracy on the training split, retrieval at the shared-space level with the "
        "best training-clip R@1 (default auto: unimodal, multimodal for early fusion; joint for "
        "a peer with joint spaces, else pooled)",
    )
    parser.add_argument("--all-levels", action="store_true", help="also probe every level")
    parser.add_argument(
        "--probe-c",
        type=float,
        nargs="+",
        default=list(ProbeCfg.cs),
        help="probe C candidates, chosen by inner CV on the training split",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run one benchmark and print its metrics last."""
    require("eval", "avpet eval")
    if getattr(args, "plot", None):
        require("plot", "avpet eval grid --plot")
    if not args.baseline and not args.model:
        raise ConfigError("--model NAME is required (or --baseline for handcrafted features)")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    probe = ProbeCfg(cs=tuple(args.probe_c), seed=args.seed)
    pretrained = args.pretrained if args.baseline else weights_request(args.model, args.pretrained)
    started = time.monotonic()
    metrics = (_grid if args.task == "grid" else _fsdd)(args, probe)
    result = {
        "task": args.task,
        "model": "handcrafted" if args.baseline else args.model,
        "pretrained": pretrained if isinstance(pretrained, bool) else str(pretrained),
        "seed": args.seed,
        **metrics,
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


def machine() -> str:
    """Where the numbers were measured, e.g. ``x86_64, 2 CPU threads, torch 2.11.0``."""
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU threads, {gpu}, torch {torch.__version__}"


def _grid(args: argparse.Namespace, probe: ProbeCfg) -> dict:
    from . import grid

    if args.train is not None:
        if args.test is None:
            raise ConfigError("--train needs --test (or use --data DIR --split FRACTION)")
        train = grid.find_clips(args.train, args.align)
        test = grid.find_clips(args.test, args.align)
    else:
        if args.test is not None:
            raise ConfigError("--test goes with --train, not with --data")
        train, test = grid.split_clips(
            grid.find_clips(args.data / "video", args.align or args.data / "align"), args.split
        )
    if args.limit is not None:
        train, test = grid.subset(train, args.limit), grid.subset(test, args.limit)
    if args.baseline:
        from .baselines import HandcraftedCfg, grid_baseline

        return {
            **grid_baseline(train, test, HandcraftedCfg(), probe),
            "n_train": len(train),
            "n_test": len(test),
        }
    from .features import check_level, load_model

    model = load_model(args.model, args.pretrained, args.seed)
    crop = {"roi": tuple(args.roi)} if args.roi else {}  # else the crop the weights expect
    transform = grid.create_eval_transform(model, backend=args.backend, **crop)
    metrics, scores = grid.evaluate(
        model,
        train,
        test,
        transform,
        check_level(model, args.level),
        probe,
        args.all_levels,
        args.batch_size,
        grid.cache_folder(args.cache, transform) if args.cache else None,
    )
    if args.plot is not None:
        from .retrieval import plot_similarity

        plot_similarity(scores, args.plot / "grid_similarity.png")
    return metrics


def _fsdd(args: argparse.Namespace, probe: ProbeCfg) -> dict:
    from . import fsdd

    recordings = fsdd.find_recordings(args.data, args.per_digit)
    if args.baseline:
        from .baselines import HandcraftedCfg, fsdd_features

        per_speaker = fsdd.leave_one_speaker_out(
            fsdd_features(recordings, HandcraftedCfg()), recordings, probe
        )
        return {**fsdd.summarise(per_speaker), "n_recordings": len(recordings)}
    from .features import check_level, load_model

    model = load_model(args.model, args.pretrained, args.seed)
    level = check_level(model, args.level)
    return fsdd.evaluate(model, recordings, level, probe, args.all_levels, args.batch_size)

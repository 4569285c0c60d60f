"""``avpet eval grid|fsdd|sync``: frozen-feature probes, retrieval and sync on real data
(docs/evaluation.md, docs/sync.md).

Each benchmark is a module registered in :data:`BENCHMARKS`; this file parses the arguments they
share and prints what they measure.

Progress goes to stderr; the metrics are printed last on stdout (one JSON object with ``--json``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from typing import Protocol

import torch

from ..arguments import add_pretrained_argument, add_threads_argument
from ..errors import ConfigError
from ..extras import require
from ..hub.sources import weights_request
from ..threads import configure
from .probe import ProbeCfg


class Benchmark(Protocol):
    """What a benchmark module offers: its help line, whether it trains probes on features
    (then it takes ``--level``, ``--all-levels``, ``--probe-c`` and ``--batch-size``), its own
    arguments, and its metrics."""

    HELP: str
    PROBES: bool

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, probe: ProbeCfg) -> dict: ...


# name -> the module that is the benchmark; a new benchmark is one module and one entry here.
BENCHMARKS: dict[str, str] = {
    "grid": "avpet.eval.grid",
    "fsdd": "avpet.eval.fsdd",
    "sync": "avpet.eval.sync",
}


def benchmark(name: str) -> Benchmark:
    """The benchmark module registered as ``name``."""
    return importlib.import_module(BENCHMARKS[name])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``avpet eval TASK``: one subcommand per registered benchmark."""
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in BENCHMARKS:
        module = benchmark(name)
        sub = tasks.add_parser(name, help=module.HELP, description=module.HELP)
        _common(sub, module.PROBES)
        module.add_arguments(sub)


def _common(parser: argparse.ArgumentParser, probes: bool) -> None:
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
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    add_threads_argument(parser)
    if not probes:
        return
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward")
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


def run(args: argparse.Namespace) -> int:
    """Run one benchmark and print its metrics last."""
    require("eval", "avpet eval")
    if getattr(args, "plot", None):
        require("plot", "avpet eval grid --plot")
    if not args.baseline and not args.model:
        raise ConfigError("--model NAME is required (or --baseline for handcrafted features)")
    if getattr(args, "batch_size", 1) < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    probe = ProbeCfg(cs=tuple(getattr(args, "probe_c", ProbeCfg.cs)), seed=args.seed)
    pretrained = args.pretrained if args.baseline else weights_request(args.model, args.pretrained)
    configure(args.threads)
    started = time.monotonic()
    metrics = benchmark(args.task).run(args, probe)
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
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU threads, {gpu}, torch {torch.__version__}"

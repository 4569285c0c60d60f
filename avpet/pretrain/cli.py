"""``avpet pretrain [CONFIG.json] [--resume | --resume-from PATH] [KEY=VALUE]...``, also
``python -m avpet.pretrain ...``.

KEY is ``section.field``; overrides may also be written ``--section.field value``.

Run it under ``torchrun --nproc_per_node N -m avpet.pretrain ...`` for data-parallel training;
see docs/pretraining.md.
"""

from __future__ import annotations

import argparse
import json
import os

from ..arguments import add_threads_argument
from ..config import to_dict
from ..errors import AvpetError, ConfigError, interrupted, report
from ..extras import require
from ..threads import configure
from .config import load_config
from .train import train

DESCRIPTION = (
    "Pretraining: AVBERT (MEP + CPP with CANS negatives) or VATT / MMV (contrastive NCE), chosen "
    "by model.name; any config field can be overridden as section.field=value or --section.field "
    "value"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``avpet pretrain``; the ``section.field`` overrides are the tokens
    argparse does not know (``parse_known_args``), put in ``args.overrides``."""
    parser.description = DESCRIPTION
    parser.add_argument("config", nargs="?", help="a JSON config (default: the built-in defaults)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in train.out_dir (start fresh if none)",
    )
    start.add_argument("--resume-from", metavar="PATH", help="continue from this checkpoint")
    start.add_argument(
        "--overwrite",
        action="store_true",
        help="start fresh in a train.out_dir that holds an earlier run, deleting that run",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config as JSON and exit"
    )
    add_threads_argument(parser)
    parser.set_defaults(overrides=[])


def split_overrides(tokens: list[str]) -> list[str]:
    """``["--optim.lr", "1e-3", "train.seed=1", "--train.device=cpu"]`` →
    ``["optim.lr=1e-3", "train.seed=1", "train.device=cpu"]``."""
    out, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--") and "=" not in token:
            if i + 1 >= len(tokens):
                raise ConfigError(f"override {token} has no value")
            out.append(f"{token[2:]}={tokens[i + 1]}")
            i += 2
            continue
        if "=" not in token:
            raise ConfigError(f"unexpected argument {token!r}: overrides are section.field=value")
        out.append(token.removeprefix("--"))
        i += 1
    return out


def run(args: argparse.Namespace) -> int:
    """Load the config with its overrides and train (or print it)."""
    overrides = list(args.overrides)
    if args.config and "=" in args.config:  # no config file, the first token is an override
        args.config, overrides = None, [args.config, *overrides]
    cfg = load_config(args.config, split_overrides(overrides))
    if args.print_config:
        print(json.dumps(to_dict(cfg), indent=2))
        return 0
    require("train", "avpet pretrain (TensorBoard logging)")
    configure(args.threads, workers=cfg.data.num_workers)  # per rank: the node's cores shared
    resume = args.resume_from or ("auto" if args.resume else None)
    final = train(cfg, resume=resume, overwrite=args.overwrite)
    if os.environ.get("RANK", "0") == "0":
        print(f"exported {final}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m avpet.pretrain``."""
    parser = argparse.ArgumentParser(prog="python -m avpet.pretrain")
    add_arguments(parser)
    args, overrides = parser.parse_known_args(argv)
    args.overrides = overrides
    try:
        return run(args)
    except AvpetError as error:
        return report("avpet.pretrain", error)
    except KeyboardInterrupt:
        return interrupted("avpet.pretrain")

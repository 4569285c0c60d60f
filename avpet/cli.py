"""The ``avpet`` command line: the subcommands of :data:`COMMANDS` and ``avpet --version``.

Each subcommand lives in the module that does its work; that module exposes
``add_arguments(parser)`` and ``run(args) -> int``. This file only wires them together (the
arguments several commands share are in :mod:`avpet.arguments`). Exit status: 0 done, 2 a bad
command line, 3 a handled error (:mod:`avpet.errors`), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from . import threads
from .arguments import split_pretrained
from .config import to_dict
from .errors import AvpetError, interrupted, report
from .factory import create_model
from .registry import list_models, split_model_name

# model-name prefix -> family (every registered name starts with one; a test checks both ways)
FAMILIES = {"avpet": "AVBERT", "vatt": "VATT", "mmv": "MMV"}

# name -> (module, one-line help); modules listed here must exist.
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("avpet.listing", "list the architectures and their pretrained tags"),
    "info": ("avpet.cli", "show a model's input spec, pretrained tags and parameter counts"),
    "extract": ("avpet.extract", "save a model's features of videos as safetensors"),
    "sync": ("avpet.sync.cli", "measure how far a video's sound is off its picture (frames)"),
    "index": ("avpet.search.indexing", "embed a collection of videos for avpet search"),
    "search": ("avpet.search.query", "find the clips a sound (or a picture) belongs to"),
    "eval": ("avpet.eval.cli", "frozen-feature benchmarks on real data: GRID words, FSDD, sync"),
    "cache": ("avpet.data.cache", "decode videos once into a clip file that pretraining reads"),
    "shard": ("avpet.data.shards", "pack videos into tar shards that pretraining streams"),
    "pretrain": ("avpet.pretrain.cli", "pretrain a backbone (config JSON + section.field=value)"),
    "push": ("avpet.hub.push", "publish a pretraining run or a hub repo folder to the Hub"),
    "convert-official": (
        "avpet.convert",
        "convert official AVBERT, VATT or MMV weights to a hub repo",
    ),
    "plot-metrics": ("avpet.plots", "draw a pretraining run's loss curves (metrics.jsonl) as PNG"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet info``."""
    parser.add_argument("name", help="model name, optionally with a pretrained tag (NAME.TAG)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """``avpet info NAME``: parameter counts per part, input spec and pretrained configuration."""
    model = create_model(args.name)
    info = {
        "name": args.name,
        "params": model.parameter_counts(),
        "pretrained_cfg": to_dict(model.pretrained_cfg),
        "pretrained_tags": list_models(split_model_name(args.name)[0] + ".*", pretrained=True),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for part, count in info["params"].items():
            print(f"{part:>12}: {count:,}")
        print(f"input: {info['pretrained_cfg']['input']}")
        print(f"pretrained tags: {', '.join(info['pretrained_tags']) or 'none'}")
        if official := model.pretrained_cfg.official:
            from .hub.official import official_endpoint

            urls = [f"{official_endpoint()}/{path}" for path in official.files]
            print(f"official weights: {' '.join(urls) or official.manual}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="avpet",
        description=f"Audio-visual Transformers ({', '.join(FAMILIES.values())}) by name. "
        f"Commands: {', '.join(COMMANDS)}; 'avpet COMMAND --help' says more.",
    )
    parser.add_argument("--version", action="version", version=f"avpet {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = (
            sys.modules[__name__]
            if module_name == __name__
            else importlib.import_module(module_name)
        )
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    threads.mark()  # other work is measured while the command starts (avpet.threads)
    parser = build_parser()
    args, rest = parser.parse_known_args(split_pretrained(sys.argv[1:] if argv is None else argv))
    if rest:  # only a command with free-form overrides (``avpet pretrain``) takes the rest
        if "overrides" not in args:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.overrides = rest
    try:
        return args.run(args)
    except AvpetError as error:
        return report(f"avpet {args.command}", error)
    except KeyboardInterrupt:
        return interrupted(f"avpet {args.command}")


if __name__ == "__main__":
    sys.exit(main())

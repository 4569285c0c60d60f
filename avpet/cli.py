"""The ``avpet`` command line: ``info``, ``extract``, ``eval``, ``cache``, ``pretrain``,
``push``, ``convert-official``, ``plot-metrics``, and ``avpet --version``.

Each subcommand lives in the module that does its work; that module exposes
``add_arguments(parser)`` and ``run(args) -> int``. This file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from . import threads
from .config import to_dict
from .errors import AvpetError, ConfigError, report
from .factory import create_model
from .registry import list_models, split_model_name

SOURCE_PREFIXES = ("hf-hub:", "local-dir:")

# name -> (module, one-line help); modules listed here must exist.
_COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("avpet.cli", "show a model's input spec, pretrained tags and parameter counts"),
    "eval": ("avpet.eval.cli", "frozen-feature benchmarks on real data: GRID words, FSDD digits"),
    "extract": ("avpet.extract", "save a model's features of videos as safetensors"),
    "cache": ("avpet.data.cache", "decode videos once into a clip file that pretraining reads"),
    "pretrain": ("avpet.pretrain.cli", "pretrain a backbone (config JSON + section.field=value)"),
    "push": ("avpet.hub.push", "publish a pretraining run or a hub repo folder to the Hub"),
    "index": ("avpet.search.indexing", "embed a collection of videos for avpet search"),
    "search": ("avpet.search.query", "find the clips a sound (or a picture) belongs to"),
    "sync": ("avpet.sync.cli", "measure how far a video's sound is off its picture (frames)"),
    "convert-official": ("avpet.convert", "convert official AVBERT or VATT weights to a hub repo"),
    "plot-metrics": ("avpet.plots", "draw a pretraining run's loss curves (metrics.jsonl) as PNG"),
}


def add_pretrained_argument(parser: argparse.ArgumentParser) -> None:
    """``--pretrained`` / ``--pretrained=SOURCE``, shared by the commands that build a model
    (:func:`avpet.hub.weights_request` says what a tagged ``--model`` loads without it)."""
    parser.add_argument(
        "--pretrained",
        type=_pretrained_value,
        default=False,
        metavar="SOURCE",
        help="load weights: --pretrained alone loads the tag's own (NAME.TAG loads them anyway); "
        "--pretrained=SOURCE loads hf-hub:ORG/REPO[@REV], local-dir:DIR or FILE.safetensors",
    )


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``, shared by the commands that run a model (:mod:`avpet.threads`)."""
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads in all, torch's and the decoders' (default: AVPET_THREADS, else the "
        "cores that other work leaves free when the command starts)",
    )


def add_roi_argument(parser: argparse.ArgumentParser) -> None:
    """``--roi``, shared by the commands that embed videos (read it with :func:`parse_roi`)."""
    parser.add_argument(
        "--roi",
        nargs="+",
        metavar="ROI",
        help="crop: none, face (pip install 'avpet[face]') or TOP BOTTOM LEFT RIGHT source pixels "
        "(default: the crop the weights record, only on frames of the size it refers to)",
    )


def parse_roi(values: list[str] | None) -> tuple[tuple[int, int, int, int] | str, list[str]]:
    """``--roi`` → (``"auto"``, ``"none"``, ``"face"`` or a box; the PATHs it swallowed, since
    ``--roi none a.mp4`` reads ``a.mp4`` as one more value)."""
    if values is None:
        return "auto", []
    if values[0] in ("none", "face"):
        return values[0], values[1:]
    try:
        box = tuple(int(v) for v in values[:4])
    except ValueError:
        box = ()
    if len(box) != 4:
        raise ConfigError(f"--roi is none, face or TOP BOTTOM LEFT RIGHT, got {' '.join(values)}")
    return box, values[4:]


def add_roi_box_argument(parser: argparse.ArgumentParser, purpose: str) -> None:
    """``--roi TOP BOTTOM LEFT RIGHT``: a crop box only (``avpet cache``, ``avpet eval grid``:
    what they record or compare is a box), read as a list of four ints or ``None``."""
    parser.add_argument(
        "--roi",
        type=int,
        nargs=4,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        help=f"crop source pixels before resizing ({purpose})",
    )


def split_pretrained(argv: list[str]) -> list[str]:
    """Make every ``--pretrained`` explicit, so it never takes a following video path.

    A bare ``--pretrained`` becomes ``--pretrained=true``, unless the next token can only be a
    weights source (``hf-hub:...``, ``local-dir:...``, ``*.safetensors``): that is its value.
    """
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--pretrained":
            following = argv[i + 1] if i + 1 < len(argv) else ""
            if following.startswith(SOURCE_PREFIXES) or following.endswith(".safetensors"):
                out.append(f"--pretrained={following}")
                i += 2
                continue
            token = "--pretrained=true"
        out.append(token)
        i += 1
    return out


def _pretrained_value(text: str) -> bool | str:
    return True if text == "true" else text


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
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="avpet", description="Audio-visual Transformers: inspect, extract, evaluate, convert."
    )
    parser.add_argument("--version", action="version", version=f"avpet {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in _COMMANDS.items():
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


if __name__ == "__main__":
    sys.exit(main())

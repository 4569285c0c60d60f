"""Command-line arguments that several subcommands share (``--pretrained``, ``--roi``,
``--overwrite``), and how their values are read. :mod:`avpet.cli` only dispatches."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .data.config import check_box
from .errors import ConfigError

SOURCE_PREFIXES = ("hf-hub:", "local-dir:")


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


def add_overwrite_argument(parser: argparse.ArgumentParser, what: str = "existing outputs") -> None:
    """``--overwrite``: without it every command refuses an existing output before any work."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")


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
    ``--roi none a.mp4`` reads ``a.mp4`` as one more value). A whole number after the four of
    a box that is no file is a fifth number: an error, not a missing video."""
    if values is None:
        return "auto", []
    if values[0] in ("none", "face"):
        return values[0], values[1:]
    numbers = []
    for value in values:
        if not _is_int(value) or (len(numbers) >= 4 and Path(value).exists()):
            break
        numbers.append(int(value))
    if not numbers:
        raise ConfigError(f"--roi is none, face or TOP BOTTOM LEFT RIGHT, got {values[0]!r}")
    try:
        box = check_box(tuple(numbers))
    except ConfigError as error:
        raise ConfigError(f"--{error}") from None
    return box, values[len(numbers) :]


def add_roi_box_argument(parser: argparse.ArgumentParser, purpose: str) -> None:
    """``--roi TOP BOTTOM LEFT RIGHT``: a crop box only (``avpet cache``, ``avpet eval grid``:
    what they record or compare is a box), read with :func:`parse_roi_box`."""
    parser.add_argument(
        "--roi",
        type=int,
        nargs=4,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        help=f"crop source pixels before resizing ({purpose})",
    )


def parse_roi_box(values: list[int] | None) -> tuple[int, int, int, int] | None:
    """The box of :func:`add_roi_box_argument` (checked: sign and order), or ``None``."""
    if values is None:
        return None
    try:
        return check_box(tuple(values))
    except ConfigError as error:
        raise ConfigError(f"--{error}") from None


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


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def warn_if_random(command: str, model: str, pretrained: bool | str) -> None:
    """A loud stderr line when ``command`` runs ``model`` on random weights (no tag, no
    ``--pretrained``): its offsets, neighbours or features mean nothing learned."""
    if not pretrained:
        print(
            f"avpet {command}: warning: {model} has RANDOM weights (no NAME.TAG, no --pretrained)"
            "; its results mean nothing learned (avpet list --pretrained names trained ones)",
            file=sys.stderr,
            flush=True,
        )

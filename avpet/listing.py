"""``avpet list [PATTERN] [--pretrained] [--json]``: the registered architectures, each with its
pretrained tags (``--pretrained``: only the ``NAME.TAG`` that have weights), as
:func:`avpet.list_models` answers. A pattern without wildcards matches names that contain it;
an architecture matches through its tags too; a pattern without a match names the close ones."""

from __future__ import annotations

import argparse
import difflib
import json

from .errors import ConfigError
from .registry import list_models, split_model_name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet list``."""
    parser.add_argument(
        "pattern", nargs="?", default="*", help="timm-style wildcard (default: *), e.g. 'vatt_*'"
    )
    parser.add_argument(  # avpet.cli writes a bare --pretrained as --pretrained=true
        "--pretrained",
        nargs="?",
        const="true",
        default=False,
        type=lambda text: text == "true",
        metavar="",
        help="only the NAME.TAG that have weights",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON list")


def run(args: argparse.Namespace) -> int:
    """Print the matching names, one a line (architectures followed by their tags)."""
    pattern = args.pattern if set("*?[") & set(args.pattern) else f"*{args.pattern}*"
    names = list_models(pattern, pretrained=args.pretrained)
    if not args.pretrained:  # an architecture also matches through one of its tags
        tagged = {split_model_name(n)[0] for n in list_models(pattern, pretrained=True)}
        names = sorted(set(names) | tagged)
    if not names:
        every = list_models(pretrained=args.pretrained)
        close = difflib.get_close_matches(args.pattern, every, n=5, cutoff=0.5)
        hint = f"; close: {', '.join(close)}" if close else ""
        raise ConfigError(f"no model matches {args.pattern!r}{hint}")
    if args.json:
        print(json.dumps(names))
        return 0
    for name in names:
        if args.pretrained:
            print(name)
            continue
        tags = [split_model_name(t)[1] for t in list_models(f"{name}.*", pretrained=True)]
        print(f"{name}  (tags: {', '.join(tags)})" if tags else name)
    return 0

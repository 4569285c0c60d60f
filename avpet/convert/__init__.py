"""``avpet convert-official [FAMILY] SOURCE --out DIR``: the authors' released weights as avpet hub
repos, read without their frameworks.

One module per family: :mod:`.avbert` (PyTorch pickles through ``torch.load(weights_only=True)``),
:mod:`.vatt` (TensorFlow checkpoints through :mod:`.tensorbundle`) and :mod:`.mmv` (Haiku pickles
through :mod:`.safe_pickle`, into the released architectures
``mmv_{s3d,tsm_resnet50,tsm_resnet50x2}_fac``). ``FAMILY`` defaults to ``avbert``, the command's
original form. The repo is written atomically (:mod:`avpet.outputs`); an existing non-empty
``--out`` needs ``--overwrite``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from ..errors import ConfigError
from ..outputs import atomic_directory, check_output

FAMILIES = ("avbert", "vatt", "mmv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="+",
        metavar="[FAMILY] SOURCE",
        help=f"family ({', '.join(FAMILIES)}; default avbert) and the official checkpoint: "
        "AVBERT .pyth, VATT checkpoint prefix (ckpt-500000) or its .index, MMV .pkl",
    )
    parser.add_argument("--out", required=True, help="folder to write the hub repo to")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--model",
        default=None,
        help="avpet architecture to load into (default: read off the checkpoint)",
    )


def run(args: argparse.Namespace) -> int:
    """Convert and write the hub repo; print how to load it."""
    if len(args.source) == 1:
        family, source = "avbert", args.source[0]
    elif len(args.source) == 2 and args.source[0] in FAMILIES:
        family, source = args.source
    else:
        raise ConfigError(
            f"expected [FAMILY] SOURCE with FAMILY one of {FAMILIES}, got {' '.join(args.source)}"
        )
    check_output(args.out, [source], args.overwrite, folder=True)  # before the work, and after
    module = importlib.import_module(f"{__name__}.{family}")
    with atomic_directory(args.out, args.overwrite, [source]) as tmp:
        module.convert_official(source, tmp, model_name=args.model)
    folder = Path(args.out)
    print(f"wrote {folder} (load with pretrained='local-dir:{folder}')")
    return 0

"""Handcrafted reference points (docs/evaluation.md), printed as JSON lines (one per benchmark).

GRID s1 (fixed 0.8 hash split): audio log-mel mean+std and visual raw lower-face pixels of each
word, logistic-regression probes; FSDD: log-mel mean+std, leave-one-speaker-out. Each line
carries the machine it ran on. Usage::

    python experiments/grid_baselines.py [--data DIR]  # default: $AVPET_DATA, ../shared/data
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from avpet.cli import main as avpet

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(os.environ.get("AVPET_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default, help="the shared data folder")
    args = parser.parse_args(argv)
    if not (args.data / "grid_s1").is_dir():
        print(f"no GRID data at {args.data}: set AVPET_DATA or pass --data", file=sys.stderr)
        return 1
    for command in (
        ["eval", "grid", "--baseline", "--data", str(args.data / "grid_s1"), "--json"],
        ["eval", "fsdd", "--baseline", "--data", str(args.data / "fsdd"), "--json"],
    ):
        rc = avpet(command)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(run())

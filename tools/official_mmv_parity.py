"""Print avpet's parity with the official MMV on a record written by ``tools/official_mmv.py``:
the largest absolute difference of every output (avpet in float64 as the record, or float32 with
``--float32``), after converting the record's pickle without JAX, Haiku or dill.

    python tools/official_mmv_parity.py /tmp/mmv_s3d [--float32] [--json]
"""

from __future__ import annotations

import argparse
import functools
import sys

import torch

from avpet.convert.parity import replay_mmv, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", help="folder with the .pkl, official.json and parity.npz")
    parser.add_argument("--float32", action="store_true", help="run avpet in float32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    replay = functools.partial(replay_mmv, dtype=torch.float32 if args.float32 else torch.float64)
    return 0 if report(replay, args.record, args.json) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Print avpet's parity with the official MMV on a record written by ``tools/official_mmv.py``:
the largest absolute difference of every output (float64), after converting the record's pickle
without JAX, Haiku or dill.

    python tools/official_mmv_parity.py /tmp/mmv_s3d [--json]
"""

from __future__ import annotations

import argparse
import sys

from avpet.convert.parity import replay_mmv, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", help="folder with the .pkl, official.json and parity.npz")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    return 0 if report(replay_mmv, args.record, args.json) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Print avpet's parity with the official VATT on a record written by ``tools/official_vatt.py``:
the largest absolute difference of every output, after converting the record's checkpoint
without TensorFlow.

    python tools/official_vatt_parity.py /tmp/vatt_bbs [--json]
"""

from __future__ import annotations

import argparse
import sys

from avpet.convert.parity import replay_vatt, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", help="folder with ckpt-1.* and parity.npz")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    return 0 if report(replay_vatt, args.record, args.json) else 1


if __name__ == "__main__":
    sys.exit(main())

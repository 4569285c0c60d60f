"""Print avpet's parity with the official VATT on a record written by ``tools/official_vatt.py``:
the largest absolute difference of every output, after converting the record's checkpoint
without TensorFlow.

    python tools/official_vatt_parity.py /tmp/vatt_bbs [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from avpet.convert.parity import replay_vatt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", help="folder with ckpt-1.* and parity.npz")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    diffs = replay_vatt(args.record)
    seconds = time.perf_counter() - start
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if args.json:
        print(json.dumps({"max_abs_diff": diffs, "seconds": seconds, "machine": machine}))
    else:
        print(f"{args.record} ({machine}; convert + forward {seconds:.0f} s)")
        for name, diff in diffs.items():
            print(f"  {name:>14}: {diff:.1e}")
    return 0 if max(diffs.values()) <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Print avpet's parity with the official VATT on records written by ``tools/official_vatt.py``:
the largest absolute difference of every output, after converting each record's checkpoint
without TensorFlow. Several records (e.g. one input size with the official spline in float32
and in float64) give one markdown table with a column per record.

    python tools/official_vatt_parity.py /tmp/vatt_bbs [--json]
    python tools/official_vatt_parity.py /tmp/vatt_bbs_8x64_f64 /tmp/vatt_bbs_8x64_f32
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from avpet.convert.parity import replay_vatt, report

TOLERANCE = 1e-4


def describe(record: Path) -> str:
    """``F×H×W video, S samples, L words, spline P`` from the record's ``official.json``."""
    about = json.loads((record / "official.json").read_text())
    if "video" not in about:  # written before the input size was recorded: the native one
        return f"{record.name} (native size)"
    frames, height, width = about["video"]
    spline = about["spline"].split()[0]
    tables = about.get("position_tables", "white noise")
    return (
        f"{frames}×{height}×{width}, {about['samples']} samples, {about['words']} words; "
        f"spline {spline}; {tables} tables"
    )


def table(records: list[Path]) -> bool:
    """One markdown row per output, one column per record; whether all are within 1e-4."""
    start = time.perf_counter()
    diffs = [replay_vatt(record) for record in records]
    seconds = time.perf_counter() - start
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{platform.machine()} CPU, {os.cpu_count()} cores (load {load}), torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; {seconds:.0f} s"
    )
    print("| output | " + " | ".join(describe(record) for record in records) + " |")
    print("|---" * (len(records) + 1) + "|")
    for name in diffs[0]:
        cells = " | ".join(f"{d[name]:.1e}" if name in d else "–" for d in diffs)
        print(f"| `{name}` | {cells} |")
    return all(max(d.values()) <= TOLERANCE for d in diffs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "records", nargs="+", type=Path, help="folders with ckpt-1.* and parity.npz"
    )
    parser.add_argument("--json", action="store_true", help="one record: one JSON line")
    args = parser.parse_args()
    if len(args.records) == 1:
        return 0 if report(replay_vatt, str(args.records[0]), args.json) else 1
    if args.json:
        parser.error("--json takes one record")
    return 0 if table(args.records) else 1


if __name__ == "__main__":
    sys.exit(main())

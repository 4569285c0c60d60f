"""``avpet sync``'s time per file: the published sync model on GRID's 3-s clips, decoding included.

    python benchmarks/bench_sync.py ../shared/data/grid_s1 [--clips 20] [--threads 2]

Builds one :class:`avpet.sync.SyncScorer` (not timed), scores one clip to warm up, then times
``scorer(path)`` on ``--clips`` clips and prints the median and the slowest, with the machine and
its load (``/proc/loadavg``: the CPU may be shared, so the figures are noisy). docs/sync.md quotes
the output.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from avpet.data.grid import find_clips, subset
from avpet.sync import SyncScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pretrained", default=True, help="weights source (default: the tag's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips = subset(find_clips(args.data / "video", args.data / "align"), args.clips + 1)
    scorer = SyncScorer(pretrained=args.pretrained)
    scorer(clips[0].video)
    seconds = []
    for clip in clips[1:]:
        started = time.perf_counter()
        scorer(clip.video)
        seconds.append(time.perf_counter() - started)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch threads, "
        f"torch {torch.__version__}, load {load}"
    )
    print(
        f"avpet sync on {len(seconds)} GRID clips of 3.0 s: median "
        f"{statistics.median(seconds):.3f} s per clip, slowest {max(seconds):.3f} s"
    )


if __name__ == "__main__":
    main()

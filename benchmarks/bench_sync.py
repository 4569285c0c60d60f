"""``avpet sync``'s time per file: the published sync model on GRID's 3-s clips, decoding included.

    python benchmarks/bench_sync.py ../shared/data/grid_s1 [--clips 20] [--threads 2]
    python benchmarks/bench_sync.py ../shared/data/grid_s1 --long 10

Builds one :class:`avpet.sync.SyncScorer` (not timed), scores one clip to warm up, then times
``scorer(path)`` on ``--clips`` clips and prints the median and the slowest, with the machine and
its load (``/proc/loadavg``: the CPU may be shared, so the figures are noisy). ``--long MINUTES``
then scores a generated 320x180 test pattern with a tone of that length (``bench_extract.py``'s,
``--roi none``) and prints its time and this process's peak resident memory. docs/sync.md quotes
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
from bench_extract import synthetic_video  # benchmarks/, next to this script
from peak import peak_rss_mib

from avpet.data.grid import find_clips, subset
from avpet.sync import SyncScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pretrained", default=True, help="weights source (default: the tag's)")
    parser.add_argument("--long", type=int, metavar="MINUTES", help="also one long generated video")
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
    if args.long:
        path = synthetic_video(args.long, "320x180")
        scorer = SyncScorer(pretrained=args.pretrained, roi="none")
        started = time.perf_counter()
        result = scorer(path)
        seconds = time.perf_counter() - started
        print(
            f"avpet sync on a {args.long}-min 320x180 video: {seconds:.1f} s, "
            f"{len(result.windows)} windows, peak RSS {peak_rss_mib():.0f} MiB"
        )


if __name__ == "__main__":
    main()

"""``avpet sync``, ``extract`` and ``index`` at 1, 2 and the default threads, alone and beside a
second busy process: seconds per minute of video, as a user runs them.

    python benchmarks/bench_threads.py ../shared/data/grid_s1 [--clips 10] [--repeats 3]
    python benchmarks/bench_threads.py ../shared/data/grid_s1 --strides 0.16 --repeats 5

Each command runs as a subprocess (start-up and weight loading included, as a user waits for
them) on the same ``--clips`` GRID clips of 3 s with the published weights, with ``--threads 1``,
``--threads 2`` and no flag (the default, :mod:`avpet.threads`); then again beside one process
that keeps a core busy (a Python loop). Prints the machine, the load average before each
condition with the budget the default would take then, the median of ``--repeats`` runs per
cell (the settings in turn), the ratio of the default to the best setting, and each index's
cost against extract's at the default. ``--strides S ...`` also times ``avpet index --clip-stride
S`` (the index's cost at other strides, docs/search.md).
``OMP_NUM_THREADS`` and ``AVPET_THREADS`` are cleared. docs/performance.md quotes the output.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from avpet.data.grid import find_clips, subset
from avpet.threads import default_threads, plan

TAG = "avpet_small_mid_lowrank.grid_s1"
SETTINGS = {"1": ["--threads", "1"], "2": ["--threads", "2"], "default": []}


def commands(videos: list[str], work: Path, strides: list[float]) -> dict[str, list[str]]:
    """The timed commands: sync, extract, index at its default stride and at ``strides``."""
    index = ["avpet", "index", *videos, "--model", TAG, "--out", str(work / "index")]
    return {
        "sync": ["avpet", "sync", *videos, "--json"],
        "extract": ["avpet", "extract", *videos, "--model", TAG, "--out", str(work / "features")],
        "index": index,
    } | {f"index {s:g} s": [*index, "--clip-stride", str(s)] for s in strides}


def timed(command: list[str], work: Path) -> float:
    for output in ("features", "index"):
        shutil.rmtree(work / output, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "AVPET_THREADS")}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (median)")
    parser.add_argument(
        "--strides", type=float, nargs="*", default=[], help="also index at these clip strides"
    )
    args = parser.parse_args()
    clips = subset(find_clips(args.data / "video", args.data / "align"), args.clips)
    videos = [str(c.video) for c in clips]
    minutes = 3.0 * len(videos) / 60
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{len(videos)} GRID clips ({minutes * 60:.0f} s of video); seconds per minute of video")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for condition in ("alone", "beside a busy process"):
            busy = None
            if condition != "alone":
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(2)
            try:
                load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
                print(
                    f"\n{condition} (load average before: {load}; the default budget now: "
                    f"{default_threads()} thread(s), extract's split {plan(None, 2)})"
                )
                print(
                    f"{'command':<12} " + " ".join(f"{s:>9}" for s in SETTINGS) + "  default/best"
                )
                defaults: dict[str, float] = {}
                for name, command in commands(videos, work, args.strides).items():
                    runs: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
                    for _ in range(args.repeats):  # round robin: drift hits every setting
                        for setting, extra in SETTINGS.items():
                            runs[setting].append(timed(command + extra, work) / minutes)
                    rates = {setting: statistics.median(r) for setting, r in runs.items()}
                    ratio = rates["default"] / min(rates.values())
                    cells = " ".join(f"{rates[s]:9.1f}" for s in SETTINGS)
                    print(f"{name:<12} {cells}  {ratio:.2f}", flush=True)
                    defaults[name] = rates["default"]
                    if name == "sync":
                        per_clip = rates["default"] * minutes / len(videos)
                        print(f"{'':<12} sync at the default: {per_clip:.2f} s per 3-s clip")
                for name in (n for n in defaults if n.startswith("index")):
                    cost = defaults[name] / defaults["extract"]
                    print(f"{name} / extract at the default: {cost:.2f}x")
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()


if __name__ == "__main__":
    main()

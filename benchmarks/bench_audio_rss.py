"""Peak memory of decoding one sample from files of 30 s to 2 h: audio is decoded as a stream.

Usage: python benchmarks/bench_audio_rss.py [--durations 30 600 7200] [--models NAME ...]

Writes, in a temporary folder, one Matroska file per duration (a 32x32 video at 1 fps and a
16 kHz mono FLAC sine, both as long as the file), then, for each model and file, loads one sample
whose last clip ends at the end of the file (the uniform starts the evaluation uses) in a fresh
process and prints that process's peak resident memory. Run it with ``PYTHONPATH`` pointing at
another checkout of avpet to compare versions; docs/security.md quotes its output.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 16000
CHILD = """
import sys, time
sys.path.insert(0, {bench!r})
from peak import peak_rss_mib
from avpet.data import create_transform, load_sample, resolve_data_config
transform = create_transform(resolve_data_config({model!r}))
before = peak_rss_mib()
started = time.perf_counter()
sample = load_sample({path!r}, transform)
print(before, peak_rss_mib(), time.perf_counter() - started, sample["starts"].max().item())
"""


def write_media(path: Path, seconds: int) -> Path:
    """A video of ``seconds`` frames at 1 fps and a 440 Hz sine track of the same length."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=1)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("flac", rate=RATE, layout="mono")
        frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        for second in range(seconds):
            frame.pts, frame.time_base = second, Fraction(1)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)
        for second in range(seconds):
            chunk = av.AudioFrame.from_ndarray(wave[None], format="flt", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = RATE, second * RATE, Fraction(1, RATE)
            container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    return path


def measure(model: str, path: Path) -> list[float]:
    """``[MiB after imports, peak MiB, seconds, last clip start]`` of one sample, in a child."""
    code = CHILD.format(bench=str(Path(__file__).parent), model=model, path=str(path))
    return [float(x) for x in _child(code, path.parent).split()]


def _child(code: str, cwd: Path) -> str:
    """stdout of ``python -c code`` run in ``cwd`` (so avpet comes from the installed package or
    ``PYTHONPATH``, not from the current directory)."""
    command = [sys.executable, "-c", code]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=int, nargs="+", default=[30, 600, 7200])
    parser.add_argument(
        "--models", nargs="+", default=["avpet_small_mid_lowrank", "avpet_mid_lowrank"]
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = _child("import avpet; print(avpet.__file__)", Path(tmp)).strip()
        print(
            f"{os.cpu_count()}-core {platform.machine()} CPU, Python {platform.python_version()}, "
            f"PyAV {av.__version__}, avpet from {Path(where).parent}"
        )
        files = {}
        for seconds in args.durations:
            started = time.perf_counter()
            files[seconds] = write_media(Path(tmp) / f"{seconds}s.mkv", seconds)
            size = files[seconds].stat().st_size / 2**20
            print(f"wrote {seconds} s ({size:.1f} MiB) in {time.perf_counter() - started:.1f} s")
        for model in args.models:
            for seconds, path in files.items():
                base, peak, took, last = measure(model, path)
                print(
                    f"{model:>24} {seconds:>6} s file: peak RSS {peak:7.0f} MiB "
                    f"({peak - base:+6.0f} MiB over the imports), last clip at {last:7.1f} s, "
                    f"{took:5.1f} s"
                )


if __name__ == "__main__":
    main()

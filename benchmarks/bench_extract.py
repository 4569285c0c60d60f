"""``avpet extract`` throughput against pure decoding, and its memory on a 30-minute video.

    python benchmarks/bench_extract.py grid [--limit N]   # the GRID s1 folder (883 clips of 3 s)
    python benchmarks/bench_extract.py long               # one 10-minute 640x360 video
    python benchmarks/bench_extract.py rss                # RSS along a 30-minute 640x360 video

``grid`` / ``long``: the same decode threads and clips (``avpet.data.stream.MediaStream``) once
without the model (pure decoding: frames, crop, resize, log-mel) and once through
``avpet.features.pipeline.run`` with ``avpet_small_mid_lowrank`` (batched model calls); prints
videos/s, clips/s, the real-time factor, extraction / decoding and the model's own clips/s.
``rss``: the resident memory of the extraction every 10 % of a 30-minute video. Long videos are
generated once (FFmpeg's ``testsrc2`` + a 440 Hz sine, H.264 + AAC, via PyAV) under
``runs/bench_extract/``. Every run prints the machine and the load (``uptime``): the CPU may be
shared, so the figures are noisy. docs/performance.md quotes the output.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from avpet.data.patterns import write_pattern
from avpet.data.sources import Source, find_media
from avpet.data.stream import MediaStream
from avpet.features import ExtractCfg, prepare
from avpet.features.pipeline import run
from avpet.threads import plan

MODEL = "avpet_small_mid_lowrank"
WORK = Path("runs/bench_extract")


def machine() -> str:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()}-core {platform.machine()} CPU, {gpu}, torch {torch.__version__}"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def synthetic_video(minutes: int, size: str = "640x360") -> Path:
    """A ``minutes``-long test pattern with a sine tone (25 fps, 16 kHz), generated once."""
    path = WORK / f"testsrc_{minutes}min_{size}.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    width, height = (int(v) for v in size.split("x"))
    write_pattern(partial, minutes * 60, size=(width, height))
    partial.replace(path)
    return path


def decode_only(sources: list[Source], transform, cfg: ExtractCfg, window: int) -> int:
    """Read every window of every source with ``cfg.workers`` threads, no model; clips read."""

    def read(source: Source) -> int:
        with MediaStream(source.path, transform, cfg.coverage, window) as stream:
            return sum(len(w.start) for w in stream)

    with ThreadPoolExecutor(cfg.workers) as pool:
        return sum(pool.map(read, sources))


def model_rate(model: torch.nn.Module, transform, cfg: ExtractCfg, window: int) -> float:
    """Clips/s of the model alone on random input of one full batch, on the threads ``run``
    gives it (:func:`avpet.threads.plan`)."""
    spec, per_call = transform.cfg.input, max(1, cfg.batch_size // window)
    visual = torch.randn(per_call, window, 3, spec.frames, spec.size, spec.size)
    audio = torch.randn(per_call, window, *spec.audio_shape[1:])
    threads = torch.get_num_threads()
    torch.set_num_threads(plan(cfg.threads, cfg.workers).torch)
    with torch.inference_mode():
        model.forward_features(visual=visual, audio=audio)  # warm-up
        started = time.perf_counter()
        for _ in range(5):
            model.forward_features(visual=visual, audio=audio)
        took = time.perf_counter() - started
    torch.set_num_threads(threads)
    return 5 * per_call * window / took


def throughput(sources: list[Source], label: str, cfg: ExtractCfg) -> None:
    model, transform, cfg = prepare(MODEL, False, "none", cfg, backend="pyav")
    window = 1 if model.clips_alone else transform.cfg.input.num_clips
    print(f"{label}: {len(sources)} video(s); {machine()}; load: {load()}")
    started = time.perf_counter()
    clips = decode_only(sources, transform, cfg, window)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    seconds = sum(r.duration for _, r in run(sources, model, transform, cfg))
    extract_s = time.perf_counter() - started
    for name, took in (("pure decoding", decode_s), ("extraction", extract_s)):
        print(
            f"  {name:>13}: {took:7.1f} s, {len(sources) / took:6.2f} videos/s, "
            f"{clips / took:7.1f} clips/s, {seconds / took:6.1f}x real time"
        )
    print(f"  extraction / pure decoding throughput: {decode_s / extract_s:.0%}")
    print(f"  the model alone: {model_rate(model, transform, cfg, window):7.1f} clips/s")
    print(f"  batch {cfg.batch_size} clips, {cfg.workers} decode threads; load after: {load()}")


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return kib / 1024


def rss_along(path: Path, cfg: ExtractCfg) -> None:
    """Resident memory sampled every 0.5 s while ``path`` is extracted, shown at every 10 % of
    the run's time (the clips go through at a steady rate)."""
    model, transform, cfg = prepare(MODEL, False, "none", cfg, backend="pyav")
    sources = [Source(str(path.absolute()), path.name)]
    print(f"rss: {path.name}; {machine()}; load: {load()}")
    samples, stop = [rss_mib()], threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            samples.append(rss_mib())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    ((_, result),) = list(run(sources, model, transform, cfg))
    took = time.perf_counter() - started
    stop.set()
    watcher.join()
    tenths = [samples[min(len(samples) - 1, len(samples) * k // 10)] for k in range(11)]
    print(f"  {result.num_clips} clips of {result.duration / 60:.1f} min in {took:.0f} s")
    print(f"  RSS (MiB) at 0, 10, ..., 100 % of the run: {' '.join(f'{m:.0f}' for m in tenths)}")
    print(f"  peak {max(samples):.0f} MiB; load after: {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("grid", "long", "rss"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, help="grid: the first N clips only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cfg = ExtractCfg(batch_size=args.batch_size, workers=args.workers)
    if args.what == "grid":
        sources = find_media(args.data / "grid_s1" / "video")[: args.limit]
        throughput(sources, f"GRID s1 folder ({sources[0].name} ...)", cfg)
    elif args.what == "long":
        throughput(find_media(synthetic_video(10)), "one 10-minute 640x360 video", cfg)
    else:
        rss_along(synthetic_video(30), cfg)


if __name__ == "__main__":
    main()

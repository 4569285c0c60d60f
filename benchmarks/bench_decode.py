"""Decoding throughput (decord vs PyAV) on GRID clips and whether a 2-worker DataLoader keeps up
with a training step of ``avpet_small_mid_lowrank`` (``avpet extract``: bench_extract.py).

Usage: python benchmarks/bench_decode.py [--data ../shared/data] [--clips 40] [--batch-size 8]
Prints the machine and one line per measurement; docs/data.md quotes its output.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

import avpet
from avpet.data import VideoDataset, create_transform, load_sample, resolve_data_config

MODEL = "avpet_small_mid_lowrank"


def machine() -> str:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()}-core {platform.machine()} CPU, {gpu}, torch {torch.__version__}"


def decode_rate(paths: list[Path], backend: str) -> float:
    """Sequences (T clips each, evaluation transform) per second in one process."""
    transform = create_transform(resolve_data_config(MODEL, backend=backend))
    load_sample(paths[0], transform)  # warm-up
    start = time.perf_counter()
    for path in paths:
        load_sample(path, transform)
    return len(paths) / (time.perf_counter() - start)


def train_step_rate(
    model: torch.nn.Module, batch: dict, steps: int
) -> tuple[float, Callable[[dict], None]]:
    """Sequences per second consumed by forward + backward + SGD update on ``batch``, and the
    step function itself."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step(b: dict) -> None:
        features = model.forward_features(visual=b["visual"], audio=b["audio"])
        loss = features["visual_bos"].pow(2).mean() + features["audio_bos"].pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(batch)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return steps * len(batch["path"]) / (time.perf_counter() - start), step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("AVPET_DATA", Path(__file__).parents[2] / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--clips", type=int, default=40, help="GRID videos to decode")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    folder = args.data / "grid_s1" / "video"
    paths = sorted(folder.glob("*.mp4"))[: args.clips]
    spec = avpet.get_pretrained_cfg(MODEL).input
    print(f"machine: {machine()}; torch threads {torch.get_num_threads()}")
    print(
        f"input: {MODEL}, T={spec.num_clips} clips x {spec.frames} frames {spec.size}px, "
        f"{spec.n_mels}x{spec.mel_frames} log-mel; {len(paths)} GRID videos"
    )

    for backend in ("decord", "pyav"):
        rate = decode_rate(paths, backend)
        print(
            f"decode {backend:>6}: {rate:6.2f} sequences/s = {rate * spec.num_clips:6.1f} clips/s "
            "(1 process, eval transform)"
        )

    cfg = resolve_data_config(MODEL)
    dataset = Subset(VideoDataset(folder, cfg, is_training=True), range(len(paths)))
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        num_workers=2,
        shuffle=True,
        persistent_workers=True,
        timeout=300,
    )
    start = time.perf_counter()
    batches = list(loader)
    feed = len(paths) / (time.perf_counter() - start)
    print(f"DataLoader 2 workers alone: {feed:6.2f} sequences/s (training transform)")

    model = avpet.create_model(MODEL).train()
    consume, step = train_step_rate(model, batches[0], args.steps)
    print(
        f"train step alone (batch {args.batch_size}): {consume:6.2f} sequences/s = "
        f"{args.batch_size / consume:.2f} s/step"
    )

    waited, stepped = 0.0, 0.0
    iterator = iter(loader)
    for _ in range(len(batches)):
        t0 = time.perf_counter()
        batch = next(iterator)
        t1 = time.perf_counter()
        step(batch)
        waited, stepped = waited + t1 - t0, stepped + time.perf_counter() - t1
    verdict = "feeds faster than the step consumes" if feed > consume else "is the bottleneck"
    print(
        f"together: {waited / len(batches):.2f} s waiting for data vs "
        f"{stepped / len(batches):.2f} s computing per step; the loader {verdict} "
        f"({feed:.2f} vs {consume:.2f} sequences/s measured apart)"
    )


if __name__ == "__main__":
    main()

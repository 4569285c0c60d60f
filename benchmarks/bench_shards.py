"""Training loader from shards vs files vs the clip cache, and extraction with 1 and 2 processes.

For each source (``data.train`` as files, a clip cache, shards) and 0, 1, 2 loader workers, in a
process of its own: the dataset pretraining builds (training transform), a DataLoader of
``--batch-size``; time to the first batch, sequences and clips per second over the rest, and peak
memory (VmHWM) of the main process and of the largest worker. Then ``avpet extract`` of the same
videos in one process and under ``torchrun --nproc-per-node 2`` (wall time including start-up,
videos/s, peak memory of the largest process). Prints the machine and its load (the numbers move
with other work on it); docs/performance.md quotes its output.

Usage: python benchmarks/bench_shards.py [--data ../shared/data] [--videos 48] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

MODEL = "avpet_small_mid_lowrank"


def machine() -> str:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()}-core {platform.machine()} CPU, {gpu}, torch {torch.__version__}"


def _vmhwm_mib(pid: int | str = "self") -> float:
    """The peak resident memory of process ``pid`` in MiB (0 once it has exited)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def loader_case(train: str, workers: int, batch_size: int) -> dict:
    """One measurement, run in its own process (``--case``)."""
    from torch.utils.data import DataLoader

    import avpet
    from avpet.data.grid import GRID_MOUTH
    from avpet.data.shards import ShardDataset
    from avpet.pretrain.config import DataSection
    from avpet.pretrain.data import build_dataset

    torch.set_num_threads(1)
    spec = avpet.get_pretrained_cfg(MODEL).input
    data = DataSection(train=train, num_workers=workers, roi=GRID_MOUTH)
    started = time.perf_counter()
    dataset = build_dataset(data, spec)
    if isinstance(dataset, ShardDataset):
        dataset.configure(0, 1, workers, batch_size)
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    else:
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=True)
    iterator = iter(loader)
    first = next(iterator)
    to_first = time.perf_counter() - started
    count, t0 = 0, time.perf_counter()
    batches = len(loader) if not isinstance(dataset, ShardDataset) else None
    total = batches if batches is not None else dataset.batches_per_epoch()
    worker_peak = 0.0
    for _ in range(total - 1):
        count += len(next(iterator)["visual"])
        for worker in getattr(iterator, "_workers", []):  # read while they live
            worker_peak = max(worker_peak, _vmhwm_mib(worker.pid))
    seconds = time.perf_counter() - t0
    return {
        "first_batch_s": to_first,
        "sequences_per_s": count / seconds,
        "clips_per_s": count * first["visual"].shape[1] / seconds,
        "main_peak_mib": _vmhwm_mib(),
        "worker_peak_mib": worker_peak,
    }


def run_with_peak(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; its wall time and the largest peak resident memory (MiB) of it and of every
    process it waited for (``RUSAGE_CHILDREN`` of a wrapper process: torchrun waits for its
    ranks; each is a fresh exec, so no parent's size is carried over)."""
    report = "import resource as r; print(r.getrusage(r.RUSAGE_CHILDREN).ru_maxrss)"
    wrapper = f"import subprocess, sys; subprocess.run(sys.argv[1:], check=True); {report}"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("AVPET_DATA", Path(__file__).parents[2] / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--videos", type=int, default=48, help="GRID videos")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--case", nargs=3, metavar=("TRAIN", "WORKERS", "BATCH"), help="internal")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(loader_case(args.case[0], int(args.case[1]), int(args.case[2]))))
        return

    from avpet.cli import main as avpet_main
    from avpet.data.cache import build_cache
    from avpet.data.grid import GRID_MOUTH

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    videos = sorted((args.data / "grid_s1" / "video").glob("*.mp4"))[: args.videos]
    print(f"machine: {machine()}; load average {os.getloadavg()} at the start")
    print(f"{len(videos)} GRID videos, {MODEL}, batch {args.batch_size}, training transform")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manifest = work / "train.csv"
        manifest.write_text("path\n" + "".join(f"{v}\n" for v in videos))
        shards = work / "shards"
        per_shard = max(1, len(videos) // 6)
        assert (
            avpet_main(
                ["shard", str(manifest), "--out", str(shards), "--max-count", str(per_shard)]
            )
            == 0
        )
        cache = build_cache(manifest, MODEL, work / "clips.safetensors", roi=GRID_MOUTH)
        size = sum(p.stat().st_size for p in shards.glob("*.tar")) / 2**20
        print(
            f"on disk: shards {size:.1f} MiB (original bytes), "
            f"clip cache {cache.stat().st_size / 2**20:.1f} MiB (decoded pixels)"
        )
        for name, train in (("files", manifest), ("clip cache", cache), ("shards", shards)):
            for workers in (0, 1, 2):
                cmd = [sys.executable, __file__, "--case", str(train), str(workers)]
                cmd.append(str(args.batch_size))
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                print(
                    f"loader {name:>10}, {workers} workers: "
                    f"first batch {r['first_batch_s']:5.2f} s, "
                    f"{r['sequences_per_s']:6.2f} sequences/s = {r['clips_per_s']:6.1f} clips/s, "
                    f"peak main {r['main_peak_mib']:5.0f} MiB"
                    + (f", largest worker {r['worker_peak_mib']:5.0f} MiB" if workers else "")
                )
        for ranks in (1, 2):
            out = work / f"features{ranks}"
            launcher = [sys.executable]
            if ranks > 1:
                launcher += ["-m", "torch.distributed.run", "--standalone"]
                launcher += ["--nproc-per-node", str(ranks)]
            cmd = [*launcher, "-m", "avpet", "extract", str(manifest), "--model", MODEL]
            cmd += ["--out", str(out), "--workers", "1", "--roi", *map(str, GRID_MOUTH)]
            seconds, peak = run_with_peak(cmd, env)
            print(
                f"extract, {ranks} process(es) x 1 decode thread: {seconds:5.1f} s wall "
                f"(start-up included) = {len(videos) / seconds:5.2f} videos/s, "
                f"peak {peak:5.0f} MiB (largest process)"
            )
    print(f"load average {os.getloadavg()} at the end")


if __name__ == "__main__":
    main()

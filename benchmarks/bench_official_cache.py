"""What a cached ``NAME.official`` costs on the second call: the offline load against building the
same model with random weights.

    python benchmarks/bench_official_cache.py [--model vatt_bbs] [--threads 2] [--repeat 3]

The authors' checkpoint cannot be downloaded on the machines this was written on, so the cache
(``$HF_HOME/avpet/official/MODEL``, in a temporary ``HF_HOME``) is filled with the model's own
random weights, written as the conversion writes them (:func:`avpet.hub.save_pretrained`): same
architecture, same bytes per tensor. Then, with ``HF_HUB_OFFLINE=1``, it times
``create_model(MODEL)`` (random init) and ``create_model(MODEL, pretrained=True)`` (random init,
the SHA-256 check of the cached weights, reading and copying them) and prints the medians, with
the machine and its load (``/proc/loadavg``: a shared CPU makes the figures noisy).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vatt_bbs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-official-"))
    os.environ.update(HF_HOME=str(home), HF_HUB_OFFLINE="1")

    import torch

    import avpet
    from avpet.hub import save_pretrained
    from avpet.hub.official import official_cache

    torch.set_num_threads(args.threads)
    model = avpet.create_model(f"{args.model}.official")
    save_pretrained(model, official_cache() / args.model)
    size = (official_cache() / args.model / "model.safetensors").stat().st_size
    del model

    def timed(**kwargs) -> float:
        times = []
        for _ in range(args.repeat):
            begin = time.perf_counter()
            avpet.create_model(args.model, **kwargs)
            times.append(time.perf_counter() - begin)
        return statistics.median(times)

    build, cached = timed(), timed(pretrained=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{args.threads} threads, load average {' '.join(load)}"
    )
    print(f"{args.model}: cached weights {size / 2**20:.0f} MiB")
    print(f"create_model({args.model!r}): {build:.2f} s (median of {args.repeat}, random init)")
    print(
        f"create_model({args.model!r}, pretrained=True), offline from the cache: {cached:.2f} s "
        f"(median of {args.repeat}; {cached - build:+.2f} s for the cached weights)"
    )


if __name__ == "__main__":
    main()

"""avpet against the official AVBERT code: same config, same weights, same input, one run.

Builds the official paper-size model (mid fusion, low-rank sharing, the Kinetics-Sounds config,
real CNNs) from a fetched copy of sangho-vision/avbert, converts its weights into
``avpet_mid_lowrank``, checks that the outputs agree, then times inference and a training step
(forward + backward + AdamW step) of the official model, avpet's (eager) and avpet's under
``torch.compile``, interleaved, and measures each one's peak memory in its own subprocess.

    python benchmarks/bench_official.py --official /path/to/avbert-checkout [--clips 4 --batch 1]

Prints JSON lines and a Markdown table; exits with a message if the official code is absent.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from peak import peak_rss_mib  # benchmarks/peak.py, next to this script

import avpet
from avpet.official import (
    build_official_avbert,
    max_output_difference,
    multimodal_output,
    official_code,
    official_config,
    paired_models,
    random_inputs,
)

IMPLEMENTATIONS = ("official", "avpet", "avpet + torch.compile")


def step_function(model: torch.nn.Module, which: str):
    """``f(visual, audio)`` → the multimodal output of implementation ``which``."""
    if which == "avpet + torch.compile":
        return torch.compile(lambda v, a: multimodal_output(model, "avpet", v, a))
    return lambda v, a: multimodal_output(model, which, v, a)


def timings(code: Path, clips: int, batch: int, reps: int) -> dict[str, float]:
    """Best-of-``reps`` seconds per inference and per training step, the implementations
    interleaved (compilation happens in the warm-up round, which is not counted)."""
    official, ours = paired_models(code, clips)
    models = dict(zip(IMPLEMENTATIONS, (official, ours, copy.deepcopy(ours)), strict=True))
    steps = {which: step_function(model, which) for which, model in models.items()}
    visual, audio = random_inputs(clips, batch)
    optimizers = {k: torch.optim.AdamW(m.parameters(), lr=1e-5) for k, m in models.items()}
    best: dict[str, float] = {}
    for rep in range(reps + 1):  # the first round warms up
        for which, model in models.items():
            model.eval()
            start = time.perf_counter()
            with torch.no_grad():
                steps[which](visual, audio)
            infer = time.perf_counter() - start
            model.train()
            start = time.perf_counter()
            steps[which](visual, audio).square().mean().backward()
            optimizers[which].step()
            optimizers[which].zero_grad(set_to_none=True)
            train = time.perf_counter() - start
            if rep:
                best[f"{which}_infer_s"] = min(best.get(f"{which}_infer_s", infer), infer)
                best[f"{which}_train_s"] = min(best.get(f"{which}_train_s", train), train)
    return best


def peak_memory(code: Path, which: str, clips: int, batch: int) -> float:
    """Peak RSS (MiB) of training steps of one implementation, alone in this process (two steps,
    so that a compiled one is measured after compiling)."""
    if which == "official":
        cfg = official_config(code)
        cfg.DATA.SEQUENCE_LENGTH = clips
        model = build_official_avbert(code, cfg).train()
    else:
        model = avpet.create_model("avpet_mid_lowrank").train()
    step = step_function(model, which)
    visual, audio = random_inputs(clips, batch)
    for _ in range(2):
        step(visual, audio).square().mean().backward()
        model.zero_grad(set_to_none=True)
    return peak_rss_mib()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, help="official repo (checkout or git dir)")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--memory-of", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.official is None or not args.official.exists():
        print("official AVBERT code not given (--official PATH): skipping the comparison")
        return 0
    code = official_code(args.official)
    if args.memory_of:
        print(peak_memory(code, args.memory_of, args.clips, args.batch))
        return 0
    diff = max_output_difference(code, args.clips, args.batch)
    row = {
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "clips": args.clips,
        "batch": args.batch,
        "max_abs_diff": diff,
        **timings(code, args.clips, args.batch, args.reps),
    }
    for which in IMPLEMENTATIONS:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--official",
                str(args.official),
                "--clips",
                str(args.clips),
                "--batch",
                str(args.batch),
                "--memory-of",
                which,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row[f"{which}_peak_mib"] = float(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(row))
    print(
        f"\nmachine: {row['machine']}, torch {row['torch']}; "
        f"batch {args.batch} × {args.clips} clips; outputs agree to {diff:.1e}\n"
    )
    print(
        "| implementation | inference s | training step s | peak MiB (train) |\n|---|---|---|---|"
    )
    for which in IMPLEMENTATIONS:
        print(
            f"| {which} | {row[f'{which}_infer_s']:.2f} | {row[f'{which}_train_s']:.2f} "
            f"| {row[f'{which}_peak_mib']:.0f} |"
        )
    for which in IMPLEMENTATIONS[1:]:
        print(
            f"\nspeed-up of {which}: inference "
            f"{row['official_infer_s'] / row[f'{which}_infer_s']:.2f}×, "
            f"training step {row['official_train_s'] / row[f'{which}_train_s']:.2f}×"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

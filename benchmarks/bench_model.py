"""Speed and memory of avpet models: inference and training step, clips/s, peak memory, FLOP/s.

Each measurement runs in a fresh subprocess so its peak memory (RSS on CPU, allocator peak on
GPU) is its own; achieved FLOP/s is reported against a matmul peak measured in the same run.

    python benchmarks/bench_model.py                       # small + paper size, CPU
    python benchmarks/bench_model.py --device cuda --dtype bf16
    python benchmarks/bench_model.py --ablations            # what each optimisation buys
    python benchmarks/bench_model.py --ablations --models avpet_mid_lowrank --only "30 clips"

Prints one JSON line per measurement and a Markdown table at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from peak import peak_rss_mib
from torch.nn.utils import parametrize
from torch.utils.flop_counter import FlopCounterMode

import avpet


@dataclass(frozen=True)
class Case:
    """One measurement: a model at a batch size with a set of execution options."""

    model: str
    batch: int = 2
    num_clips: int = 0  # 0: the model's input spec
    device: str = "cpu"
    dtype: str = "fp32"  # fp32 | bf16 (autocast)
    steps: int = 3
    label: str = "default"
    cache_rotations: bool = True
    sdpa: bool = True
    channels_last: bool = True
    compile: bool = False
    grad_checkpointing: bool = False


CNNS = ("visual_cnn", "audio_cnn")


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: str, dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """Best FLOP/s of an ``n×n @ n×n`` matmul on ``device``."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def naive_attention(q, k, v, attn_mask=None, dropout_p=0.0, **_):
    """Explicit softmax(QKᵀ/√d)V, to measure what SDPA buys."""
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    return F.dropout(scores.softmax(-1), dropout_p) @ v


def best_time(fn, steps: int, device: str) -> float:
    fn()  # warm-up (and compilation)
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def run_case(case: Case) -> dict:
    """Measure one case in this process."""
    torch.manual_seed(0)
    spec = avpet.get_pretrained_cfg(case.model).input
    clips = case.num_clips or spec.num_clips
    # Sequences longer than the 21 clips of the position table need a longer one.
    overrides = {"max_positions": clips + 1} if clips > 21 else {}
    model = avpet.create_model(case.model, **overrides).to(case.device)
    visual = torch.randn(case.batch, clips, *spec.visual_shape[1:], device=case.device)
    audio = torch.randn(case.batch, clips, *spec.audio_shape[1:], device=case.device)
    if not case.channels_last:
        model.visual_cnn.to(memory_format=torch.contiguous_format)
    if case.grad_checkpointing:
        model.set_grad_checkpointing()
    if not case.sdpa:
        F.scaled_dot_product_attention = naive_attention
    if not case.cache_rotations:
        parametrize.cached = contextlib.nullcontext
    forward = torch.compile(model) if case.compile else model
    dtype = torch.bfloat16 if case.dtype == "bf16" else torch.float32
    autocast = (
        torch.autocast(case.device, dtype=torch.bfloat16)
        if case.dtype == "bf16"
        else contextlib.nullcontext()
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def infer():
        with torch.no_grad(), autocast:
            forward(visual, audio)

    def train():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = forward(visual, audio).float().square().mean()
        loss.backward()
        optimizer.step()

    flop_counter = FlopCounterMode(display=False)
    with torch.no_grad(), flop_counter:
        model(visual, audio)
    forward_flops = flop_counter.get_total_flops()
    per_module = flop_counter.get_flop_counts()
    cnn_flops = sum(sum(per_module.get(f"AVBert.{cnn}", {}).values()) for cnn in CNNS)

    model.eval()
    infer_s = best_time(infer, case.steps, case.device)
    model.train()
    if case.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train_s = best_time(train, case.steps, case.device)
    peak = torch.cuda.max_memory_allocated() if case.device == "cuda" else peak_rss_mib() * 2**20
    peak_flops = matmul_peak(case.device, dtype)
    train_flops = 3 * forward_flops  # backward ≈ 2× forward
    return {
        **asdict(case),
        "machine": machine(),
        "params": model.parameter_counts()["total"],
        "clips": case.batch * clips,
        "infer_s": infer_s,
        "train_s": train_s,
        "infer_clips_per_s": case.batch * clips / infer_s,
        "train_clips_per_s": case.batch * clips / train_s,
        "peak_mem_mib": peak / 2**20,
        "forward_gflop": forward_flops / 1e9,
        "cnn_flop_share": cnn_flops / forward_flops,
        "matmul_peak_gflops": peak_flops / 1e9,
        "train_mfu": train_flops / train_s / peak_flops,
    }


def cases(args: argparse.Namespace) -> list[Case]:
    base = [
        Case("avpet_small_mid_lowrank", batch=8, device=args.device, dtype=args.dtype),
        Case("avpet_mid_lowrank", batch=args.paper_batch, device=args.device, dtype=args.dtype),
    ]
    if not args.ablations:
        return base
    out = []
    for case in base:
        out += [
            case,
            replace(case, label="rotations per call", cache_rotations=False),
            replace(case, label="naive attention", sdpa=False),
            replace(case, label="contiguous 3D CNN", channels_last=False),
            replace(case, label="bf16 autocast", dtype="bf16"),
            replace(case, label="torch.compile", compile=True),
            replace(case, label="30 clips", num_clips=30),
            replace(case, label="30 clips + checkpointing", num_clips=30, grad_checkpointing=True),
        ]
    return out


def table(rows: list[dict]) -> str:
    head = (
        "| model | option | batch×clips | infer s | train s | train clips/s | peak MiB "
        "| fwd GFLOP | CNN share | train MFU |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(
        f"| {r['model']} | {r['label']} | {r['batch']}×{r['clips'] // r['batch']} "
        f"| {r['infer_s']:.3f} | {r['train_s']:.3f} | {r['train_clips_per_s']:.1f} "
        f"| {r['peak_mem_mib']:.0f} | {r['forward_gflop']:.1f} | {r['cnn_flop_share']:.1%} "
        f"| {r['train_mfu']:.1%} |"
        for r in rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--paper-batch", type=int, default=1)
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--models", nargs="+", help="only these models")
    parser.add_argument("--only", nargs="+", metavar="LABEL", help="only these options")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(Case(**json.loads(args.one)))))
        return
    rows = []
    for case in cases(args):
        if (args.models and case.model not in args.models) or (
            args.only and case.label not in args.only
        ):
            continue
        proc = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(asdict(case))],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            print(f"# {case.model} / {case.label} failed:\n{proc.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\nmachine: {machine()}, torch {torch.__version__}\n")
    print(table(rows))


if __name__ == "__main__":
    main()

"""Pretrain on your own folder of videos, then load the result like any pretrained model.

    python examples/pretrain_own_videos.py VIDEO_DIR --out runs/mine --steps 3   # tiny
    python examples/pretrain_own_videos.py VIDEO_DIR --out runs/mine --steps 20000 \
        --batch-size 32 --workers 8 --plot runs/mine/loss.png

Writes a config file next to the run folder (``OUT.json``) and drives
``python -m avpet.pretrain CONFIG`` (MEP + CPP with CANS negatives; under ``torchrun`` for several
processes, see docs/pretraining.md). The run folder gets ``config.json``, ``metrics.jsonl``,
``checkpoints/`` and ``final/``, a hub folder that
``create_model(NAME, pretrained="local-dir:OUT/final")`` loads; the example does so and encodes
one video of the folder with it. ``--plot`` draws the loss curves (needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

import avpet
from avpet.data import VideoDataset, resolve_data_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", help="a folder of videos (searched recursively) or a CSV")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--model", default="avpet_small_mid_lowrank", help="backbone to pretrain")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=2, help="sequences per step (>= 2)")
    parser.add_argument("--workers", type=int, default=0, help="decoding worker processes")
    parser.add_argument("--lr", type=float, default=5e-4, help="peak AdamW learning rate")
    parser.add_argument("--plot", type=Path, help="write the loss curves to this PNG")
    args = parser.parse_args()

    config = {
        "model": {"name": args.model},
        "data": {"train": str(args.videos), "num_workers": args.workers},
        "optim": {"lr": args.lr, "warmup_steps": min(100, args.steps // 10)},
        "train": {
            "out_dir": str(args.out),
            "batch_size": args.batch_size,
            "max_steps": args.steps,
            "log_every": 1,
            "ckpt_every": max(1, args.steps // 4),
            "device": "auto",
        },
    }
    config_path = args.out.with_name(args.out.name + ".json")  # the run folder starts empty
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    command = [sys.executable, "-m", "avpet.pretrain", str(config_path)]
    print("running:", " ".join(command))
    subprocess.run(command, check=True)

    final = args.out / "final"
    model = avpet.create_model(args.model, pretrained=f"local-dir:{final}").eval()
    print(f"loaded {final}: {model.parameter_counts()['total']:,} parameters")
    sample = VideoDataset(args.videos, resolve_data_config(model))[0]
    with torch.inference_mode():
        pooled = model(visual=sample["visual"][None], audio=sample["audio"][None])
    print(f"{sample['path']}: pooled [BOS_v ; BOS_a] features {list(pooled.shape)}")

    if args.plot:
        from avpet.plots import plot_curves, read_curves

        plot_curves(read_curves(args.out / "metrics.jsonl"), args.plot, title=str(args.out))
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()

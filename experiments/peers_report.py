"""Print every number docs/peers.md quotes: VATT / MMV parameter accounting against the papers,
token counts, deflation + BN re-learning errors, and small-model training-step times.

    python experiments/peers_report.py            # add --no-timing to skip the step timings
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torch.nn.functional as F

import avpet
from avpet.layers.patch_embed import VideoPatchEmbed, WavePatchEmbed
from avpet.layers.resnet2d import ResNet2dCfg
from avpet.layers.s3d import S3DG, S3DCfg
from avpet.models.mmv import TSMVideo, deflate, relearn_batchnorm
from avpet.pretrain.tasks import ContrastiveTask

K600 = 600


def meta(name: str, **overrides) -> dict[str, int]:
    with torch.device("meta"):
        return avpet.create_model(name, **overrides).parameter_counts()


def counts_table() -> None:
    print("| model | what is counted | avpet | paper | difference |")
    print("|---|---|---|---|---|")
    rows = []
    for name, paper in (("vatt_base", 87.9e6), ("vatt_medium", 155.0e6), ("vatt_large", 306.1e6)):
        c = meta(name, num_classes=K600)
        rows.append((name, "video Transformer + K600 linear classifier", c["total"], paper))
    c = meta("vatt_ma_medium", num_classes=K600)
    post = 1024 * 1024 + 1024
    video_path = c["shared_transformer"] + c["video"] - post + c["classifier"]
    rows.append(
        ("vatt_ma_medium", "shared Transformer + video tokenizer path + K600", video_path, 155e6)
    )
    for name, paper in (("vatt_bbs", 197e6), ("vatt_mbs", 264e6), ("vatt_lbs", 415e6)):
        c = meta(name)
        rows.append(
            (name, "3 backbones + FAC heads, frozen word table excluded", c["trainable"], paper)
        )
    for name, what, ours, paper in rows:
        diff = 100 * (ours - paper) / paper
        print(f"| `{name}` | {what} | {ours:,} | {paper / 1e6:.1f}M | {diff:+.2f} % |")
    print()
    for name in ("vatt_bbs", "vatt_ma_medium", "vatt_small", "mmv_s3d_fac", "mmv_tsm_resnet50_fac",
                 "mmv_small_s3d_fac", "mmv_small_tsm_fac"):  # fmt: skip
        print(f"{name}: {meta(name)}")


def token_counts() -> None:
    with torch.device("meta"):
        video = VideoPatchEmbed(768)(torch.empty(1, 3, 32, 224, 224)).shape[1]
        audio = WavePatchEmbed(768)(torch.empty(1, 153600)).shape[1]
    print(f"tokens: video 32x224x224 -> {video}, audio 3.2 s at 48 kHz -> {audio}")


def deflation() -> None:
    frames = 4
    nets = {
        "s3d (width 0.125)": S3DG(S3DCfg(width=0.125)),
        "tsm (ResNet [1,1,1,1], width 8)": TSMVideo(
            ResNet2dCfg(layers=(1, 1, 1, 1), width=8), frames
        ),
    }
    for name, video in nets.items():
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        video.train()
        with torch.no_grad():
            for _ in range(3):
                video(torch.rand(4, 3, frames, 32, 32, generator=g) * 2 + 0.5)
        video.eval()

        def images(n: int, seed: int) -> torch.Tensor:
            gen = torch.Generator().manual_seed(seed)
            return F.interpolate(
                torch.rand(n, 3, 8, 8, generator=gen), size=(32, 32), mode="bilinear"
            )

        image = deflate(video)
        before, after = relearn_batchnorm(image, video, images(16, 3), frames, steps=40)
        test = images(8, 4)
        with torch.no_grad():
            target = video(test[:, :, None].expand(-1, -1, frames, -1, -1))
            fresh = (deflate(video)(test[:, :, None]) - target).abs().mean().item()
            relearned = (image(test[:, :, None]) - target).abs().mean().item()
            scale = target.abs().mean().item()
        print(
            f"deflation {name}, {frames}-frame static clips 32x32: "
            f"train L1 {before:.2e} -> {after:.2e}; held-out L1 {fresh:.2e} -> {relearned:.2e} "
            f"(mean |output| {scale:.2e})"
        )


def timing() -> None:
    torch.manual_seed(0)
    for name in ("vatt_small", "mmv_small_s3d_fac", "mmv_small_tsm_fac"):
        backbone = avpet.create_model(name)
        spec = backbone.pretrained_cfg.input
        visual = torch.rand(32, 3, spec.frames, spec.size, spec.size)
        if name.startswith("vatt"):
            audio = torch.randn(32, int(spec.frames / spec.fps * spec.sample_rate))
        else:
            audio = torch.randn(32, 1, spec.n_mels, spec.mel_frames)
        model = ContrastiveTask(backbone)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            loss = model(visual[:, None], audio[:, None])["loss"]  # sequences of one clip
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
        best = min(times)
        print(f"{name}: training step (batch 32 clips, video+audio NCE) {best:.2f} s (best of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    cuda = "yes" if torch.cuda.is_available() else "no"
    cores = os.cpu_count()
    print(
        f"machine: {platform.machine()}, {cores} CPU cores, CUDA {cuda}, torch {torch.__version__}"
    )
    counts_table()
    token_counts()
    deflation()
    if not args.no_timing:
        timing()


if __name__ == "__main__":
    main()

"""Train the sync model (``avpet_small_mid_lowrank.sync_grid_s1``) on the GRID training clips.

    python experiments/sync_pretrain.py ../shared/data/grid_s1 --out runs/sync

Starts from grid_s1's weights and trains the CNNs and their projections with
:func:`avpet.sync.objective.shifted_nce`: each 0.2-s visual clip must pick its own audio among the
same video's audio shifted by 2..15 frames and the other videos' audio of the batch. Clips come
from the evaluation's hash split (``--split``, the training side); the last tenth of that side
(hash units in ``[0.9 split, split)``) is held out as a validation set, on which the metrics
of ``avpet eval sync`` are printed every ``--eval-every`` steps. Every clip is decoded once per
view (random crop and flip of the mouth region, as pretraining draws them) and kept in memory
(~1.3 GB per view). Writes ``OUT/final`` (a hub-layout folder, ``local-dir:OUT/final``) and
``OUT/metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

import avpet
from avpet.data import clips
from avpet.data.config import resolve_data_config
from avpet.data.grid import find_clips, split_clips, split_unit
from avpet.data.io import decode_audio, probe, reader_for
from avpet.data.transforms import create_transform
from avpet.eval.sync import measure, spoken
from avpet.hub import save_pretrained
from avpet.sync.objective import shifted_nce
from avpet.sync.reader import SyncEmbeddings

NAME = "avpet_small_mid_lowrank.sync_grid_s1"


@dataclass(frozen=True)
class Recipe:
    steps: int = 400
    videos: int = 8  # spans per batch, each from another video
    span: int = 16  # consecutive visual clips per span
    search: int = 15  # audio windows this many frames either side of a span
    ignore: int = 1  # windows this close to the positive are left out
    temperature: float = 0.07
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 50
    views: int = 2
    seed: int = 0


@dataclass
class Video:
    frames: list[torch.Tensor]  # per view [N, 3, S, S] float16, on the model's frame grid
    wave: torch.Tensor  # [samples] float32


def decode(path: Path, transform, spec, views: int, generator) -> Video:
    info = probe(path)
    if abs(info.fps - spec.fps) > 1e-3:
        raise SystemExit(f"{path}: {info.fps} fps, the recipe expects {spec.fps}")
    with reader_for(info) as reader:
        raw = reader.frames(range(info.num_frames))
    frames = []
    for _ in range(views):
        geometry = transform.geometry(info.path, info.height, info.width, generator)
        frames.append(transform.visual(raw, geometry).transpose(0, 1).half())
    return Video(frames, decode_audio(info, spec.sample_rate, info.duration))


def windows(wave: torch.Tensor, steps: range, spec) -> torch.Tensor:
    """Audio windows starting at each frame step (zeros outside the track): [len(steps), S]."""
    length = spec.clip_samples
    out = torch.zeros(len(steps), length)
    for row, step in enumerate(steps):
        begin = clips.audio_begin(step / spec.fps, spec.sample_rate)
        lo, hi = max(begin, 0), min(begin + length, wave.numel())
        if hi > lo:
            out[row, lo - begin : hi - begin] = wave[lo:hi]
    return out


def visual_clips(frames: torch.Tensor, starts: range, count: int) -> torch.Tensor:
    """[len(starts), 3, count, S, S] from frames [N, 3, S, S] (the last frame repeats past N)."""
    index = torch.tensor([[min(s + f, len(frames) - 1) for f in range(count)] for s in starts])
    return frames[index].permute(0, 2, 1, 3, 4).float()


def batch(videos, recipe, spec, audio_transform, generator):
    vis, aud = [], []
    for v in torch.randint(len(videos), (recipe.videos,), generator=generator).tolist():
        video = videos[v]
        view = video.frames[int(torch.randint(len(video.frames), (1,), generator=generator))]
        room = len(view) - spec.frames - recipe.span + 2
        t0 = int(torch.randint(max(room, 1), (1,), generator=generator))
        vis.append(visual_clips(view, range(t0, t0 + recipe.span), spec.frames))
        steps = range(t0 - recipe.search, t0 + recipe.span + recipe.search)
        aud.append(audio_transform.audio(windows(video.wave, steps, spec), generator))
    return torch.cat(vis), torch.cat(aud)


@torch.no_grad()
def validate(model, videos, clips, recipe, spec, transform) -> dict[str, float]:
    """``avpet eval sync``'s metrics on the held-out clips, from the decoded tensors."""
    model.eval()
    k = 2 * recipe.search  # shifted audio is read from windows of twice the search range
    signals = []
    for clip, video in zip(clips, videos, strict=True):
        count = len(video.frames[0]) - spec.frames + 1
        visual = visual_clips(video.frames[0], range(count), spec.frames)
        sound = transform.audio(windows(video.wave, range(-k, count + k), spec))
        embed = [
            F.normalize(model.joint_clips(m, x)) for m, x in (("visual", visual), ("audio", sound))
        ]
        signals.append(SyncEmbeddings(str(clip.video), spec.fps, 0.0, k, *embed))
    speech = [spoken(clip, spec.fps) for clip in clips]
    model.train()
    return {
        f"val_{key}": value
        for key, value in measure(signals, speech, recipe.search, spec.frames).items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--init", default="local-dir:hub/avpet_small_mid_lowrank.grid_s1")
    parser.add_argument("--split", type=float, default=0.8)
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--lr", type=float, default=Recipe.lr)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--limit", type=int, default=None, help="decode at most this many clips")
    args = parser.parse_args()
    recipe = Recipe(steps=args.steps, lr=args.lr)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)

    model = avpet.create_model(NAME, pretrained=args.init)
    model.pretrained_cfg = avpet.get_pretrained_cfg(NAME)
    spec = model.pretrained_cfg.input
    cfg = resolve_data_config(model.pretrained_cfg)
    train_tf, eval_tf = create_transform(cfg, is_training=True), create_transform(cfg)

    train, _ = split_clips(find_clips(args.data / "video", args.data / "align"), args.split)
    val_from = 0.9 * args.split
    fit = [c for c in train if split_unit(c.id) < val_from][: args.limit]
    val = [c for c in train if split_unit(c.id) >= val_from][: args.limit]
    started = time.time()
    fit_videos = [decode(c.video, train_tf, spec, recipe.views, generator) for c in fit]
    val_videos = [decode(c.video, eval_tf, spec, 1, generator) for c in val]
    print(
        f"decoded {len(fit)} training and {len(val)} validation clips "
        f"in {time.time() - started:.0f} s"
    )

    params = [p for n, p in model.named_parameters() if n.startswith(("visual_", "audio_"))]
    optim = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optim,
        lambda s: (
            min(1.0, (s + 1) / recipe.warmup)
            * 0.5
            * (1 + math.cos(math.pi * min(s, recipe.steps) / recipe.steps))
        ),
    )
    args.out.mkdir(parents=True, exist_ok=True)

    def log(record: dict) -> None:
        print(json.dumps(record), flush=True)
        with open(args.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    log({"step": 0, **validate(model, val_videos, val, recipe, spec, eval_tf)})
    model.train()
    started = time.time()
    for step in range(1, recipe.steps + 1):
        visual, audio = batch(fit_videos, recipe, spec, train_tf, generator)
        v = F.normalize(model.joint_clips("visual", visual)).view(recipe.videos, recipe.span, -1)
        a = F.normalize(model.joint_clips("audio", audio)).view(recipe.videos, -1, v.shape[-1])
        loss = shifted_nce(v, a, recipe.search, recipe.ignore, recipe.temperature)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        schedule.step()
        if step % 20 == 0 or step % args.eval_every == 0:
            record = {
                "step": step,
                "loss": loss.detach().item(),
                "minutes": (time.time() - started) / 60,
            }
            if step % args.eval_every == 0 or step == recipe.steps:
                record.update(validate(model, val_videos, val, recipe, spec, eval_tf))
            log(record)
    save_pretrained(model.eval(), args.out / "final")
    print(f"wrote {args.out / 'final'}")


if __name__ == "__main__":
    main()

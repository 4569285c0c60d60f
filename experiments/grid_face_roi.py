"""``--roi face`` against the fixed GRID mouth crop: the GRID evaluation on reframed clips.

Every GRID s1 clip is scaled (x1.0-1.3, FFmpeg's area filter), shifted to a pseudo-random place
and padded into a 640x480 frame (grey background), written with PyAV as H.264 (its audio as AAC)
under ``--work``. The GRID evaluation (:func:`avpet.eval.grid.evaluate`, as ``avpet eval grid
--all-levels``) then runs twice with the GRID weights: on the original clips with the fixed crop
the weights record, and on the reframed clips with ``roi="face"``. Prints one JSON line per run
and the visual digit accuracy at every level for both; docs/evaluation.md quotes it.

Usage: python experiments/grid_face_roi.py [--data ../shared/data] [--work runs/grid_face]
       [--limit N] [--pretrained local-dir:hub/avpet_small_mid_lowrank.grid_s1]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import av
import numpy as np
import torch

import avpet
from avpet.data.io import decode_audio, open_media
from avpet.eval.cli import machine
from avpet.eval.grid import (
    cache_folder,
    create_eval_transform,
    evaluate,
    find_clips,
    split_clips,
    subset,
)
from avpet.eval.probe import ProbeCfg

FRAME = (480, 640)  # height, width of the reframed clips
BACKGROUND = 128


def reframe(source: Path, target: Path, seed: int) -> None:
    """``source`` scaled by U(1.0, 1.3), placed at a random offset in a grey 640x480 frame."""
    rng = random.Random(seed)
    scale = rng.uniform(1.0, 1.3)
    with av.open(str(source)) as inp:
        stream = inp.streams.video[0]
        h = round(stream.codec_context.height * scale)
        w = round(stream.codec_context.width * scale)
        top, left = rng.randint(0, FRAME[0] - h), rng.randint(0, FRAME[1] - w)
        pictures = []
        for frame in inp.decode(stream):
            canvas = np.full((*FRAME, 3), BACKGROUND, dtype=np.uint8)
            scaled = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA")
            canvas[top : top + h, left : left + w] = scaled.to_ndarray()
            pictures.append(canvas)
        rate = stream.average_rate
    with open_media(source, backend="pyav") as reader:
        info = reader.info
        audio = decode_audio(info, 16000, info.duration).numpy() if info.has_audio else None
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(target), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = FRAME[1], FRAME[0], "yuv420p"
        video.options = {"crf": "20", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=16000, layout="mono") if audio is not None else None
        for picture in pictures:
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(video.encode())
        if sound is not None:
            frame = av.AudioFrame.from_ndarray(audio[None], format="flt", layout="mono")
            frame.sample_rate = 16000
            out.mux(sound.encode(frame))
            out.mux(sound.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("runs/grid_face"))
    parser.add_argument("--limit", type=int, help="N clips of each split")
    parser.add_argument(
        "--pretrained", default="local-dir:hub/avpet_small_mid_lowrank.grid_s1", help="weights"
    )
    args = parser.parse_args()
    grid = args.data / "grid_s1"
    train, test = split_clips(find_clips(grid / "video", grid / "align"), 0.8)
    if args.limit:
        train, test = subset(train, args.limit), subset(test, args.limit)
    started = time.monotonic()
    for n, clip in enumerate(train + test):
        target = args.work / "video" / clip.video.name
        if not target.is_file():
            reframe(clip.video, target, seed=n)
    print(f"reframed {len(train + test)} clips in {time.monotonic() - started:.0f} s")

    torch.manual_seed(0)
    model = avpet.create_model("avpet_small_mid_lowrank", pretrained=args.pretrained).eval()
    probe = ProbeCfg(seed=0)
    digits = {}
    for name, roi, moved in (
        ("fixed crop, originals", None, False),
        ("face, reframed", "face", True),
    ):
        overrides = {"roi": roi, "backend": "pyav"} if roi else {"backend": "pyav"}
        transform = create_eval_transform(model, **overrides)
        relocate = [
            type(c)(c.id, args.work / "video" / c.video.name, c.words) if moved else c
            for c in train + test
        ]
        started = time.monotonic()
        with torch.inference_mode():
            metrics, _ = evaluate(
                model,
                relocate[: len(train)],
                relocate[len(train) :],
                transform,
                model.default_level,
                probe,
                all_levels=True,
                cache=cache_folder(args.work / "cache", transform),
            )
        metrics.update(run=name, seconds=round(time.monotonic() - started), machine=machine())
        print(json.dumps(metrics, default=float))
        digits[name] = {
            level: values["visual_digit_acc"] for level, values in metrics["levels"].items()
        }
    print("visual digit accuracy per level:")
    for level in digits["fixed crop, originals"]:
        fixed, face = digits["fixed crop, originals"][level], digits["face, reframed"][level]
        print(f"  {level:>10}: fixed {fixed:.4f}  face {face:.4f}  difference {face - fixed:+.4f}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()

"""Features of one video for downstream code: model → transform → sample → every feature level.

    python examples/extract_features.py                       # the bundled GRID clip
    python examples/extract_features.py my.mp4 --model avpet_mid_lowrank --pretrained \
        --out my_features.safetensors

Writes one tensor per level (batch dimension removed) to a safetensors file, reads it back and
prints each level's shape and the audio-visual cosine similarity of the two BOS summaries.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import avpet
from avpet.data import create_transform, load_sample, resolve_data_config

BUNDLED_CLIP = Path(__file__).with_name("grid_s1_bbaf2n.mp4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=BUNDLED_CLIP, help="a video file")
    parser.add_argument("--model", default="avpet_small_mid_lowrank", help="model name")
    parser.add_argument(
        "--pretrained", default=None, help="weights: hf-hub:ORG/REPO, local-dir:DIR or a file"
    )
    parser.add_argument("--out", type=Path, default=Path("features.safetensors"))
    args = parser.parse_args()

    torch.manual_seed(0)
    model = avpet.create_model(args.model, pretrained=args.pretrained or False).eval()
    data_cfg = resolve_data_config(model)  # the input spec the weights expect, plus decoding
    sample = load_sample(args.video, create_transform(data_cfg, is_training=False))
    print(f"{args.video}: {len(sample['starts'])} clips starting at {sample['starts'].tolist()} s")

    with torch.inference_mode():
        features = model.forward_features(
            visual=sample["visual"][None], audio=sample["audio"][None]
        )
    tensors = {level: value[0].clone() for level, value in features.items()}  # own storage
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out), metadata={"model": args.model, "video": str(args.video)})

    loaded = load_file(str(args.out))
    for level, value in sorted(loaded.items()):
        print(f"{level:>14}: {list(value.shape)}")
    similarity = torch.cosine_similarity(loaded["visual_bos"], loaded["audio_bos"], dim=0)
    print(f"cos(visual_bos, audio_bos) = {similarity:.4f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

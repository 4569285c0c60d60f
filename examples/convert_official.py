"""Convert the official AVBERT checkpoint and use it as ``avpet_mid_lowrank``.

    python examples/convert_official.py avbert_official.pyth --out avbert_official/

The same as ``avpet convert-official CKPT --out DIR``: the PySlowFast-named checkpoint of
github.com/sangho-vision/avbert becomes a hub folder (``model.safetensors``, ``config.json``,
``README.md``). The example then loads it with ``pretrained="local-dir:DIR"``, prints the
parameter counts and checks that the loaded weights are the folder's, tensor for tensor.
"""

from __future__ import annotations

import argparse

import torch

import avpet
from avpet.convert.avbert import MODEL, convert_official
from avpet.hub import read_safetensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="the official checkpoint (.pyth / .pth)")
    parser.add_argument("--out", required=True, help="folder to write the hub repo to")
    args = parser.parse_args()

    folder = convert_official(args.checkpoint, args.out)
    print(f"converted {args.checkpoint} -> {folder}: {sorted(p.name for p in folder.iterdir())}")
    model = avpet.create_model(MODEL, pretrained=f"local-dir:{folder}")
    for part, count in model.parameter_counts().items():
        print(f"{part:>12}: {count:,}")
    saved = read_safetensors(folder / "model.safetensors")
    state = model.state_dict()
    same = sum(torch.equal(state[k], v) for k, v in saved.items() if k in state)
    print(f"{same} of {len(saved)} saved tensors loaded unchanged")
    print(f"input spec: {model.pretrained_cfg.input}")


if __name__ == "__main__":
    main()

"""Numerical parity of avpet's AVBERT with the official implementation (sangho-vision/avbert).

Builds the official ``AVBert`` (mid fusion, low-rank sharing, static orthogonal mode) from a copy
of the official repository with its CNNs replaced by pass-through stubs, so everything after the
CNNs is compared: projections (Linear + LayerNorm), BOS, position / token-type embeddings, the
unimodal and multimodal Transformers with their factorized linears and orthogonal rotations. The
official weights are randomised (all of them, so that no bias or rotation is trivially zero or the
identity), converted with :func:`avpet.convert.avbert.convert_state_dict` and loaded into the
avpet model; both run the same input in eval mode and the largest absolute output difference is
printed.

The whole paper-size model is compared too (``full_model_multimodal``): the official model with
its real CNNs, built from the official Kinetics-Sounds config, against ``avpet_mid_lowrank``
loaded with its converted weights. That comparison is too large for a CI fixture; the small one
is what tests/test_convert.py replays.

    git clone https://github.com/sangho-vision/avbert /tmp/avbert
    python tools/official_parity.py --official /tmp/avbert \
        [--write-fixture tests/fixtures/official_parity.safetensors]

The fixture (official weights, inputs, official outputs) lets tests/test_convert.py guard parity
in CI without the official code. Nothing of the official code is copied into avpet: it is imported
from the given checkout, with small stand-ins for its ``fvcore`` registry and its CNN builders.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

import avpet
from avpet.convert.avbert import ALIAS_PREFIXES, convert_state_dict
from avpet.hub.weights import load_into, unique_state_dict
from avpet.official import Attr, import_official, max_output_difference, official_code

TOLERANCE = 1e-4
# A small Transformer-only configuration: fast on CPU, a fixture of ~200 KB.
SMALL = dict(
    dim=64, heads=4, mlp_dim=128, rank=16, depth=2, visual={"width": 8}, audio={"width": 8}
)
BATCH, CLIPS, SEED = 2, 3, 0


def _stub_cnn(name: str, channels: int) -> type[torch.nn.Module]:
    """A CNN stand-in with the official interface: ``get_feature_map`` flattens its input."""

    class Stub(torch.nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.output_size = channels
            self.head = types.SimpleNamespace(output_size=channels)

        def get_feature_map(self, x):
            x = x[0] if isinstance(x, list) else x
            return x.flatten(1)

        def get_logit(self, x):
            return x

    Stub.__name__ = name
    return Stub


def build_official(official_avbert, registry, visual_channels: int, audio_channels: int):
    registry.register(_stub_cnn("StubVisual", visual_channels))
    registry.register(_stub_cnn("StubAudio", audio_channels))
    transformer = Attr(
        ATTENTION_PROBS_DROPOUT_PROB=0.1,
        HIDDEN_ACT="gelu",
        HIDDEN_DROPOUT_PROB=0.1,
        HIDDEN_SIZE=SMALL["dim"],
        INITIALIZER_RANGE=0.02,
        INTERMEDIATE_SIZE=SMALL["mlp_dim"],
        MAX_POSITION_EMBEDDINGS=22,
        NUM_ATTENTION_HEADS=SMALL["heads"],
        NUM_HIDDEN_LAYERS=SMALL["depth"],
        NUM_HIDDEN_GROUPS=1,
        INNER_GROUP_NUM=1,
        TYPE_VOCAB_SIZE=2,
        OUTPUT_HIDDEN_STATES=False,
        USE_MEAN_POOLING=False,
        SHARING_ACROSS_LAYERS=True,
        SHARING_ACROSS_MODELS=True,
        USE_DECOMPOSITION=True,
        ORTHOGONAL_SIZE=SMALL["rank"],
        ORTHOGONAL_MODE="static",
        ORTHOGONAL_INIT="cayley",
        ORTHOGONAL_K=100,
        LAYER_NORM_EPS=1e-12,
    )
    cfg = Attr(
        TRANSFORMER=transformer,
        MODEL=Attr(ARCH="visual_audio", FUSION="mid"),
        VIS=Attr(MODEL_NAME="StubVisual"),
        AUD=Attr(MODEL_NAME="StubAudio"),
        DATA=Attr(SEQUENCE_LENGTH=CLIPS),
    )
    return official_avbert.AVBert(cfg)


def randomise(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Every parameter random (LayerNorm scales around 1, rotation generators large enough to
    give rotations far from the identity); the identity ``base`` buffers stay as they are."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "LayerNorm" in name or name.endswith("_norm.weight"):
                param.copy_(1 + 0.1 * noise if name.endswith("weight") else 0.1 * noise)
            elif name.endswith(".A"):
                param.copy_(0.3 * noise)
            else:
                param.copy_(0.1 * noise)


def run_parity(code: Path) -> tuple[dict[str, torch.Tensor], dict[str, float], dict]:
    """Official vs avpet outputs; returns the fixture tensors, max |diff| per output, config."""
    generator = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    small = {k: v for k, v in SMALL.items()}
    ours = avpet.create_model("avpet_small_mid_lowrank", **small).eval()
    cv, ca = ours.visual_cnn.num_features, ours.audio_cnn.num_features
    official_avbert, registry = import_official(code)
    theirs = build_official(official_avbert, registry, cv, ca).eval()
    randomise(theirs, generator)
    official_state = dict(theirs.state_dict())

    converted = convert_state_dict(official_state, "official AVBert (stub CNNs)")
    expected, _ = unique_state_dict(ours)
    missing = sorted(set(expected) - set(converted))
    assert all(k.startswith(("visual_cnn.", "audio_cnn.")) for k in missing), missing[:5]
    load_into(ours, converted, "official AVBert", strict=False)

    visual = torch.randn(BATCH, CLIPS, cv, generator=generator)
    audio = torch.randn(BATCH, CLIPS, ca, generator=generator)
    with torch.no_grad():
        _, single, multi = theirs(
            visual_seq=[visual.view(BATCH, CLIPS, cv, 1, 1, 1)],
            audio_seq=audio.view(BATCH, CLIPS, ca, 1, 1),
        )
        mine = ours.encode(ours.visual_proj(visual), ours.audio_proj(audio))
    outputs = {"visual": single[0], "audio": single[1], "multimodal": multi}
    diffs = {k: (mine[k] - v).abs().max().item() for k, v in outputs.items()}
    # the shared Transformer once (its three aliases are the same tensors), no cached rotations
    tensors = {
        f"official.{k}": v.contiguous()
        for k, v in official_state.items()
        if not k.endswith("._B") and not k.startswith(ALIAS_PREFIXES)
    }
    tensors |= {"input.visual": visual, "input.audio": audio}
    tensors |= {f"output.{k}": v.contiguous() for k, v in outputs.items()}
    config = {
        "model": "avpet_small_mid_lowrank",
        "overrides": small,
        "batch": BATCH,
        "clips": CLIPS,
    }
    return tensors, diffs, config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--official", type=Path, required=True, help="official repo (checkout or git dir)"
    )
    parser.add_argument("--write-fixture", type=Path, help="save weights, inputs and outputs here")
    args = parser.parse_args(argv)

    code = official_code(args.official)
    tensors, diffs, config = run_parity(code)
    # The whole paper-size model with its real CNNs (Kinetics-Sounds config), 2 clips.
    diffs["full_model_multimodal"] = max_output_difference(code, clips=2, batch=1)
    machine = f"{platform.machine()} CPU, torch {torch.__version__}"
    print(json.dumps({"max_abs_diff": diffs, "tolerance": TOLERANCE, "machine": machine}, indent=2))
    if args.write_fixture:
        save_file(tensors, args.write_fixture, metadata={"config": json.dumps(config)})
        print(f"wrote {args.write_fixture} ({args.write_fixture.stat().st_size:,} bytes)")
    return 0 if max(diffs.values()) <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())

"""``avpet convert-official``: the official AVBERT checkpoint (sangho-vision/avbert, PySlowFast
naming) as an ``avpet_mid_lowrank`` hub repo folder.

The official ``state_dict`` (keys listed in the spec's ``avbert_official_keys.tsv``) differs from
avpet's in four ways, each handled here:

* keys carry the prefix ``avbert.`` inside the checkpoint's ``state_dict``; keys outside it
  (pretraining or classification heads) are not part of the backbone and are dropped;
* the one shared Transformer appears under four prefixes (``transformer.``,
  ``single_visual_transformer.``, ``single_audio_transformer.``, ``multi_transformer.``): the
  aliases must hold the same tensors and are folded into one;
* a factorized linear stores per-modality ``ms{m}_linear.weight`` (Vᵀ_m) and
  ``orthogonal_ms{m}_linear.A`` (rotation generator) separately; avpet stacks them along a leading
  modality axis (``v``, ``parametrizations.rotation.original``). ``orthogonal_ms{m}_linear.base``
  must be the identity (static mode) and the cached rotation ``_B`` is dropped;
* module names (``visual_conv.s2.pathway0_res0.branch2.a_bn`` →
  ``visual_cnn.stages.0.0.conv_a.1`` and so on).

The checkpoint is read with ``torch.load(weights_only=True)``: the one place avpet reads a pickle,
and it refuses any object that is not plain tensors and containers.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from ..errors import CheckpointError, ConfigError
from ..factory import create_model
from ..hub import save_pretrained
from ..hub.weights import load_into

OFFICIAL_PREFIX = "avbert."
SHARED_PREFIX = "transformer."
ALIAS_PREFIXES = ("single_visual_transformer.", "single_audio_transformer.", "multi_transformer.")
LAYER_PREFIX = "transformer.encoder.albert_layer_groups.0.albert_layers.0."
MODEL = "avpet_mid_lowrank"
DESCRIPTION = (
    "AVBERT weights converted from the official release (github.com/sangho-vision/avbert) by "
    "`avpet convert-official`; the official repository states no licence."
)
TRAINING_DATA = "As released by the authors (the paper pretrains on Kinetics-700 and AudioSet)."

# official Transformer sub-module -> avpet block sub-module
FACTOR_NAMES = {
    "attention.factor_query": "attn.query",
    "attention.factor_key": "attn.key",
    "attention.factor_value": "attn.value",
    "attention.factor_dense": "attn.out",
    "factor_ffn": "ffn_in",
    "factor_ffn_output": "ffn_out",
}
LAYER_NORMS = {"attention.LayerNorm": "attn_norm", "full_layer_layer_norm": "ffn_norm"}
BLOCK = "transformers.encoders.0.blocks.0."


# (pattern on an official key, replacement): applied once, first match wins.
RENAMES: list[tuple[re.Pattern, str]] = [
    (re.compile(p), r)
    for p, r in [
        (r"^visual_conv\.s1\.pathway0_stem\.conv\.", "visual_cnn.stem.0.0."),
        (r"^visual_conv\.s1\.pathway0_stem\.bn\.", "visual_cnn.stem.0.1."),
        (r"^audio_conv\.s1\.stem\.conv1\.", "audio_cnn.stem.0.0."),
        (r"^audio_conv\.s1\.stem\.bn1\.", "audio_cnn.stem.0.1."),
        (r"^audio_conv\.s1\.stem\.conv2\.", "audio_cnn.stem.1.0."),
        (r"^audio_conv\.s1\.stem\.bn2\.", "audio_cnn.stem.1.1."),
        (r"^visual_fc\.", "visual_proj.fc."),
        (r"^visual_norm\.", "visual_proj.norm."),
        (r"^audio_fc\.", "audio_proj.fc."),
        (r"^audio_norm\.", "audio_proj.norm."),
        (r"^summary_encoding\.bos_embeddings\.weight$", "bos"),
        (r"^single_(visual|audio)_embeddings\.position_embeddings\.", r"\1_embed.position."),
        (r"^single_(visual|audio)_embeddings\.LayerNorm\.", r"\1_embed.norm."),
        (r"^multi_embeddings\.position_embeddings\.", "multimodal_embed.position."),
        (r"^multi_embeddings\.token_type_embeddings\.", "multimodal_embed.token_type."),
        (r"^multi_embeddings\.LayerNorm\.", "multimodal_embed.norm."),
    ]
]
# residual blocks: ``{visual,audio}_conv.s{2..5}.[pathway0_]res{i}.branch...``
RESIDUAL = re.compile(
    r"^(?P<net>visual|audio)_conv\.s(?P<stage>[2-5])\.(?:pathway0_)?res(?P<block>\d+)\."
    r"(?P<part>branch1|branch1_bn|branch2\.(?:a|b|b1|b2|c)(?:_bn)?)\.(?P<leaf>\w+)$"
)
RESIDUAL_PARTS = {
    "branch1": "shortcut.0",
    "branch1_bn": "shortcut.1",
    "branch2.a": "conv_a.0",
    "branch2.a_bn": "conv_a.1",
    "branch2.b": "conv_b.0",
    "branch2.b_bn": "conv_b.1",
    "branch2.b1": "conv_b.0.0",
    "branch2.b1_bn": "conv_b.0.1",
    "branch2.b2": "conv_b.1.0",
    "branch2.b2_bn": "conv_b.1.1",
    "branch2.c": "conv_c.0",
    "branch2.c_bn": "conv_c.1",
}
FACTOR_LEAF = re.compile(r"^(?:orthogonal_)?ms(?P<m>\d+)_linear\.(?P<leaf>weight|A|base|_B)$")


def load_official(path: str | Path) -> dict[str, Tensor]:
    """The backbone tensors of an official checkpoint, keys without the ``avbert.`` prefix.

    Accepts ``{"state_dict": {...}}`` (as released), ``{"model_state": {...}}`` or a bare
    state dict, with or without the prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and weights_only refusals all land here
        reason = " ".join(str(error).split())  # one line: torch's messages span several
        raise CheckpointError(path, f"not a loadable PyTorch checkpoint ({reason})") from error
    state = checkpoint
    if isinstance(checkpoint, dict):
        for key in ("state_dict", "model_state"):
            if isinstance(checkpoint.get(key), dict):
                state = checkpoint[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(path, "holds no state dict of tensors")
    if any(k.startswith(OFFICIAL_PREFIX) for k in state):
        state = {
            k[len(OFFICIAL_PREFIX) :]: v for k, v in state.items() if k.startswith(OFFICIAL_PREFIX)
        }
    return dict(state)


def convert_state_dict(
    official: dict[str, Tensor], origin: str = "checkpoint"
) -> dict[str, Tensor]:
    """Official AVBERT keys (no ``avbert.`` prefix) → avpet ``AVBert`` keys.

    Raises :class:`CheckpointError` (naming ``origin``) on a key it cannot place, aliases of the
    shared Transformer that differ, or a non-identity rotation base.
    """
    state = _fold_aliases(official, origin)
    out: dict[str, Tensor] = {}
    factors: dict[str, dict[str, dict[int, Tensor]]] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith(LAYER_PREFIX):
            rest = key[len(LAYER_PREFIX) :]
            if not _transformer_key(rest, value, out, factors, origin):
                unknown.append(key)
            continue
        new = _rename(key)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise CheckpointError(origin, f"keys with no avpet counterpart: {unknown[:5]}{more}")
    for module, leaves in factors.items():
        for leaf, per_modality in leaves.items():
            if sorted(per_modality) != list(range(len(per_modality))):
                raise CheckpointError(
                    origin, f"{module}: modalities {sorted(per_modality)} are not 0..M-1"
                )
            out[f"{module}.{leaf}"] = torch.stack([per_modality[m] for m in sorted(per_modality)])
    return out


def _fold_aliases(state: dict[str, Tensor], origin: str) -> dict[str, Tensor]:
    """Drop the alias prefixes of the shared Transformer after checking they hold equal tensors."""
    out = {}
    for key, value in state.items():
        alias = next((p for p in ALIAS_PREFIXES if key.startswith(p)), None)
        if alias is None:
            out[key] = value
            continue
        shared = SHARED_PREFIX + key[len(alias) :]
        if shared not in state:
            raise CheckpointError(
                origin,
                f"{key} has no shared counterpart {shared} (only the 'lowrank' sharing "
                "of the released checkpoint, one Transformer for all streams, is supported)",
            )
        if key.endswith("._B"):
            continue
        if not torch.equal(state[shared], value):
            raise CheckpointError(
                origin, f"{key} differs from {shared}: the aliases must be shared"
            )
    return out


def _transformer_key(
    rest: str,
    value: Tensor,
    out: dict[str, Tensor],
    factors: dict[str, dict[str, dict[int, Tensor]]],
    origin: str,
) -> bool:
    """Place one key of the shared ALBERT layer; ``False`` if it is not one it knows."""
    for official, ours in LAYER_NORMS.items():
        if rest.startswith(official + "."):
            out[BLOCK + ours + rest[len(official) :]] = value
            return True
    for official, ours in FACTOR_NAMES.items():
        if not rest.startswith(official + "."):
            continue
        leaf = rest[len(official) + 1 :]
        module = BLOCK + ours
        if leaf in ("s_linear.weight", "s_linear.bias"):
            out[f"{module}.{'u' if leaf.endswith('weight') else 'bias'}"] = value
            return True
        match = FACTOR_LEAF.match(leaf)
        if match is None:
            return False
        m, kind = int(match["m"]), match["leaf"]
        if kind == "_B":
            return True  # cached rotation, recomputed from A
        if kind == "base":
            if not torch.equal(value, torch.eye(value.shape[0], dtype=value.dtype)):
                raise CheckpointError(
                    origin,
                    f"{LAYER_PREFIX}{rest} is not the identity (dynamic-trivialization "
                    "checkpoints are not supported)",
                )
            return True
        name = "v" if kind == "weight" else "parametrizations.rotation.original"
        factors.setdefault(module, {}).setdefault(name, {})[m] = value
        return True
    return False


def _rename(key: str) -> str | None:
    match = RESIDUAL.match(key)
    if match:
        stage = f"stages.{int(match['stage']) - 2}.{match['block']}"
        return f"{match['net']}_cnn.{stage}.{RESIDUAL_PARTS[match['part']]}.{match['leaf']}"
    for pattern, replacement in RENAMES:
        if pattern.search(key):
            return pattern.sub(replacement, key, count=1)
    return None


def convert_official(
    checkpoint: str | Path, out: str | Path, model_name: str | None = None
) -> Path:
    """Convert ``checkpoint`` and write ``avpet_mid_lowrank`` with its weights as a hub repo in
    ``out`` (``model_name``, if given, must be that one).

    Loading is strict: every avpet key is filled and every official key is used.
    """
    if model_name not in (None, MODEL):
        raise ConfigError(f"the official AVBERT checkpoint is {MODEL}, not {model_name}")

    state = convert_state_dict(load_official(checkpoint), str(checkpoint))
    model = create_model(MODEL)
    load_into(model, state, str(checkpoint), strict=True)
    model.pretrained_cfg = replace(
        model.pretrained_cfg, tag="official", license="other", description=DESCRIPTION
    )
    return save_pretrained(model, out, training_data=TRAINING_DATA)

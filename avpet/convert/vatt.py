"""The official VATT checkpoints (google-research ``vatt/``, TF2 TensorBundles) as avpet ``VATT``.

Keys are Python attribute paths of the official objects (``…/vid_backbone/_base/tx/layers/3/mha/
q/kernel``); everything before the backbone or head marker (``model/``, ``layer_with_weights-0/``,
``_base_layer/``) is ignored, so pretraining checkpoints (``MMRLModel``: three backbones and the
FAC head ``_head_layer/_bridge_heads/0``) and fine-tuning ones (``VideoModel`` / ``AudioModel``:
``_base`` and the classifier ``_ops/cls``) read alike. Adam slots (``.OPTIMIZER_SLOT``), the
optimizer's own variables, ``save_counter`` and the object graph are skipped.

Layout differences handled here: Dense kernels are ``[in, out]`` (transposed); separate
``q``/``k``/``v`` are stacked into avpet's fused ``qkv``; Conv kernels are channels-last
(``[t, h, w, 3, D]``, ``[128, 1, D]``); the T5 relative bias lives in text layer 0 only (reused by
the other layers); BatchNorm ``moving_mean``/``moving_variance`` are the running statistics
(``num_batches_tracked``, which PyTorch keeps and TF does not, is set to 0).

The architecture is read off the shapes (widths, depths, heads = inner width / 64, position
buckets, patch sizes, classes) and must equal a registered one unless ``model_name`` is given.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import CheckpointError, ConfigError
from .tensorbundle import TensorBundle

VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
SLOT = "/.OPTIMIZER_SLOT/"
SOURCE = "https://github.com/google-research/google-research/tree/master/vatt"
LICENSE = "apache-2.0"
HEAD_DIM = 64

# marker in an official key -> avpet module it belongs to
MARKERS = (
    ("vid_backbone/_base/", "video"),
    ("aud_backbone/_base/", "audio"),
    ("txt_backbone/", "text"),
    ("_bridge_heads/0/", "spaces"),
    ("unified_transformer/", "unified"),  # ut_fac: UnifiedFusion's UniversalVATT
    ("_ops/cls/", "head"),
    ("_base/", "single"),  # fine-tuned VideoModel / AudioModel
)
BN_LEAVES = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
LN_LEAVES = {"gamma": "weight", "beta": "bias"}
# FAC head: official sub-path -> avpet ``spaces`` sub-module
SPACES = {
    "vid_to_hid": "video_va.0",
    "hid_to_va/pre_bn": "video_va.1",
    "hid_to_va/dense": "video_va.3",
    "hid_to_va/bn": "video_va.4",
    "aud_to_va": "audio_va",
    "va_to_vat/dense": "va_to_vt.1",
    "va_to_vat/bn": "va_to_vt.2",
    "txt_to_vat": "text_vt",
}
# UniversalVATT keeps per-modality layers in dicts: its key -> the modality-specific model's key
UNIFIED = (
    ("raw_to_embeddings/{m}/", {"video": "voxel_to_patch/", "audio": "wave_to_patch/",
                                "text": "embedding/"}),
    ("pre_proj/{m}/", "pre_tx_projection/"),
    ("pos_embedding_lookup/{m}/", "pos_embedding_lookup/"),
    ("post_proj/{m}/", "post_tx_projection/"),
    ("{short}_agg_embedding", "agg_embedding"),
)  # fmt: skip
SHORT = {"video": "vid", "audio": "aud", "text": "txt"}
QKV = ("q", "k", "v")
LAYER = re.compile(r"^(?:tx|base_lm)/layers/(\d+)/(.+)$")


def load_official(path: str | Path) -> dict[str, np.ndarray]:
    """The model variables of a VATT checkpoint (``PREFIX``, ``PREFIX.index`` or a data shard),
    keyed by their object path without the ``/.ATTRIBUTES/VARIABLE_VALUE`` suffix."""
    with TensorBundle(path) as bundle:
        return {
            name[: -len(VALUE_SUFFIX)]: bundle.read(name)
            for name in bundle.names()
            if name.startswith("model/") and name.endswith(VALUE_SUFFIX) and SLOT not in name
        }


def split_modules(official: dict[str, np.ndarray], origin: str) -> dict[str, dict[str, np.ndarray]]:
    """``{module: {key after its marker: array}}``; a fine-tuned backbone (``_base/``) becomes
    ``video`` or ``audio`` by its tokenizer. Unplaceable keys are an error."""
    modules: dict[str, dict[str, np.ndarray]] = {}
    unknown = []
    for key, value in official.items():
        for marker, module in MARKERS:
            if marker in key:
                modules.setdefault(module, {})[key.split(marker, 1)[1]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(origin, f"variables outside any VATT module: {unknown[:5]}")
    if "unified" in modules:
        modules.update(_split_unified(modules.pop("unified"), origin))
    if "single" in modules:
        if modules.keys() & {"video", "audio"}:
            raise CheckpointError(origin, "both a fine-tuned and a pretraining backbone")
        single = modules.pop("single")
        modules["video" if "voxel_to_patch/kernel" in single else "audio"] = single
    return modules


def _split_unified(tree: dict[str, np.ndarray], origin: str) -> dict[str, dict[str, np.ndarray]]:
    """UniversalVATT's variables as per-modality trees keyed as in the modality-specific models,
    plus ``shared`` (its one Transformer, ``tx/…``)."""
    out: dict[str, dict[str, np.ndarray]] = {"shared": {}}
    for key, value in tree.items():
        if key.startswith("tx/"):
            out["shared"][key] = value
            continue
        for pattern, ours in UNIFIED:
            for modality in ("video", "audio", "text"):
                prefix = pattern.format(m=modality, short=SHORT[modality])
                if key.startswith(prefix):
                    target = ours[modality] if isinstance(ours, dict) else ours
                    out.setdefault(modality, {})[target + key[len(prefix) :]] = value
                    break
            else:
                continue
            break
        else:
            raise CheckpointError(origin, f"unified_transformer/{key} has no avpet counterpart")
    return out


def _linear(kernel: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(kernel.T))


def _encoder(tree: dict[str, np.ndarray], prefix: str, out: dict[str, Tensor]) -> set[str]:
    """Transformer layers and final norm of one backbone into ``prefix`` (``transformers.video.``).
    Returns the keys it used."""
    used: set[str] = set()
    qkv: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for key, value in tree.items():
        match = LAYER.match(key)
        if match is None:
            continue
        block, rest = f"{prefix}blocks.{match[1]}.", match[2]
        parts = rest.split("/")
        leaf = parts[-1]
        if parts[0] in ("mha", "self_attention") and parts[-2] in QKV:
            qkv.setdefault((int(match[1]), leaf), {})[parts[-2]] = value
        elif parts[0] in ("mha", "self_attention") and parts[-2] == "o":
            out[f"{block}attn.out.{'weight' if leaf == 'kernel' else 'bias'}"] = (
                _linear(value) if leaf == "kernel" else torch.from_numpy(value)
            )
        elif rest in ("layer_norm/gamma", "layer_norm/beta", "self_attention/layer_norm/weight"):
            out[f"{block}attn_norm.{LN_LEAVES.get(leaf, 'weight')}"] = torch.from_numpy(value)
        elif parts[:2] == ["feed_forward", "layer_norm"]:
            out[f"{block}ffn_norm.{LN_LEAVES[leaf]}"] = torch.from_numpy(value)
        elif parts[:2] == ["feed_forward", "mlp"]:
            index = {"wi": 0, "wo": 3}[parts[2]]
            out[f"{block}ffn.{index}.{'weight' if leaf == 'kernel' else 'bias'}"] = (
                _linear(value) if leaf == "kernel" else torch.from_numpy(value)
            )
        elif rest == "self_attention/attention/relative_attention_bias/embeddings":
            if match[1] != "0":
                raise CheckpointError(prefix, f"relative bias in layer {match[1]}, expected 0 only")
            continue  # placed by the caller (avpet keeps it at the input)
        else:
            continue
        used.add(key)
    for (layer, leaf), parts in qkv.items():
        stacked = np.concatenate([parts["q"], parts["k"], parts["v"]], axis=-1)
        name = "weight" if leaf == "kernel" else "bias"
        out[f"{prefix}blocks.{layer}.attn.qkv.{name}"] = (
            _linear(stacked) if leaf == "kernel" else torch.from_numpy(stacked)
        )
        used.update(k for k in tree if LAYER.match(k) and k.split("/")[-2] in QKV)
    return used


def convert_state_dict(official: dict[str, np.ndarray], origin: str = "checkpoint") -> dict:
    """Official VATT variables → avpet ``VATT`` state dict (``num_batches_tracked`` included).

    Raises :class:`CheckpointError` naming ``origin`` on any variable it cannot place.
    """
    out: dict[str, Tensor] = {}
    leftover: list[str] = []
    modules = split_modules(official, origin)
    agnostic = any("pre_tx_projection/kernel" in tree for tree in modules.values())
    for module, tree in modules.items():
        used = _place(module, tree, out, "shared" if agnostic else module)
        leftover += [f"{module}: {k}" for k in tree if k not in used]
    if leftover:
        more = f" (+{len(leftover) - 5} more)" if len(leftover) > 5 else ""
        raise CheckpointError(origin, f"variables with no avpet counterpart: {leftover[:5]}{more}")
    return out


def _place(
    module: str, tree: dict[str, np.ndarray], out: dict[str, Tensor], transformer: str
) -> set[str]:
    """Map one module's variables into ``out`` (its Transformer is ``transformers.<transformer>``,
    ``shared`` in a modality-agnostic model); returns the official keys used."""
    t = torch.from_numpy
    if module == "head":
        out["head.1.weight"], out["head.1.bias"] = _linear(tree["kernel"]), t(tree["bias"])
        return {"kernel", "bias"}
    if module == "spaces":
        used = set()
        for key, value in tree.items():
            path, leaf = key.rsplit("/", 1)
            if path not in SPACES:
                continue
            ours = f"spaces.{SPACES[path]}."
            if leaf in BN_LEAVES:
                out[ours + BN_LEAVES[leaf]] = t(value)
                out[ours + "num_batches_tracked"] = torch.tensor(0)
            else:
                out[ours + leaf.replace("kernel", "weight")] = (
                    _linear(value) if leaf == "kernel" else t(value)
                )
            used.add(key)
        return used
    inputs = f"inputs.{module}."
    used = _encoder(tree, f"transformers.{transformer}.", out)
    if module == "shared":
        return used | _final_norm(tree, "tx/", out, transformer)
    used |= _final_norm(tree, "base_lm/" if module == "text" else "tx/", out, transformer)
    agnostic = transformer == "shared"
    simple: dict[str, tuple[str, object]] = {}
    if module == "video":
        simple = {
            "voxel_to_patch/kernel": (
                "tokenizer.proj.weight",
                lambda a: t(np.ascontiguousarray(a.transpose(4, 3, 0, 1, 2))),
            ),
            "voxel_to_patch/bias": ("tokenizer.proj.bias", t),
            "agg_embedding": ("agg", t),
        }
        for i, axis in enumerate(("temporal", "vertical", "horizontal")):
            key = f"pos_embedding_lookup/{axis}_position_embeddings/embeddings"
            simple[key] = (f"tokenizer.pos.{i}.weight", t)
    elif module == "audio":
        simple = {
            "wave_to_patch/kernel": (
                "tokenizer.proj.weight",
                lambda a: t(np.ascontiguousarray(a.transpose(2, 1, 0))),
            ),
            "wave_to_patch/bias": ("tokenizer.proj.bias", t),
            "agg_embedding": ("agg", t),
            "pos_embedding_lookup/temporal_position_embeddings/embeddings": (
                "tokenizer.pos.weight",
                t,
            ),
        }
    elif agnostic:  # VATT-MA text: learned positions, the aggregation token after projection
        simple = {
            "embedding/embeddings": ("tokenizer.table.weight", t),
            "agg_embedding": ("agg", t),
            "pos_embedding_lookup/temporal_position_embeddings/embeddings": (
                "tokenizer.pos.weight",
                t,
            ),
        }
    else:
        simple = {
            "embedding/embeddings": ("tokenizer.table.weight", t),
            "agg_embedding": ("tokenizer.agg", t),
            "pre_proj/kernel": ("tokenizer.pre_proj.0.weight", _linear),
            "base_lm/layers/0/self_attention/attention/relative_attention_bias/embeddings": (
                "relative_bias.bias.weight",
                t,
            ),
        }
    if module in ("video", "audio") or agnostic:
        simple["pos_embedding_lookup/layernorm/gamma"] = ("tokenizer.norm.weight", t)
        simple["pos_embedding_lookup/layernorm/beta"] = ("tokenizer.norm.bias", t)
        simple["pre_tx_projection/kernel"] = ("tokenizer.pre_proj.0.weight", _linear)
        simple["pre_tx_projection/bias"] = ("tokenizer.pre_proj.0.bias", t)
        simple["post_tx_projection/kernel"] = (f"@posts.{module}.0.weight", _linear)
        simple["post_tx_projection/bias"] = (f"@posts.{module}.0.bias", t)
    for key, (ours, convert) in simple.items():
        if key in tree:
            name = ours[1:] if ours.startswith("@") else inputs + ours
            out[name] = convert(tree[key])
            used.add(key)
    return used


def _final_norm(
    tree: dict[str, np.ndarray], prefix: str, out: dict[str, Tensor], transformer: str
) -> set[str]:
    """The Transformer's final norm (LayerNorm ``gamma``/``beta`` or T5's ``weight``)."""
    used = set()
    for leaf, ours in (("gamma", "weight"), ("beta", "bias"), ("weight", "weight")):
        key = f"{prefix}final_layer_norm/{leaf}"
        if key in tree:
            out[f"transformers.{transformer}.norm.{ours}"] = torch.from_numpy(tree[key])
            used.add(key)
    return used


# ---- architecture ---------------------------------------------------------------------------


def infer_cfg(official: dict[str, np.ndarray], origin: str = "checkpoint"):
    """The :class:`~avpet.models.vatt.VattCfg` the checkpoint's shapes describe."""
    from ..layers.spaces import SpacesCfg
    from ..models.vatt import AudioCfg, TextCfg, TransformerSize, VattCfg, VideoCfg

    modules = split_modules(official, origin)
    if not modules.keys() & {"video", "audio"}:
        raise CheckpointError(origin, "no VATT video or audio backbone in this checkpoint")

    def size(tree: dict[str, np.ndarray], prefix: str) -> TransformerSize:
        layers = {int(m[1]) for k in tree if (m := LAYER.match(k))}
        q = tree[
            f"{prefix}layers/0/{'mha' if prefix == 'tx/' else 'self_attention/attention'}/q/kernel"
        ]
        wi = tree[f"{prefix}layers/0/feed_forward/mlp/wi/kernel"]
        return TransformerSize(
            dim=q.shape[0], depth=len(layers), heads=q.shape[1] // HEAD_DIM, mlp_dim=wi.shape[1]
        )

    agnostic = any("pre_tx_projection/kernel" in tree for tree in modules.values())
    kwargs: dict = {"modality_agnostic": agnostic}
    modalities = [m for m in ("video", "audio", "text") if m in modules]
    shared = modules.get("shared")  # UniversalVATT's one Transformer
    if "video" in modules:
        tree = modules["video"]
        kernel = tree["voxel_to_patch/kernel"]
        buckets = tuple(
            tree[f"pos_embedding_lookup/{a}_position_embeddings/embeddings"].shape[0]
            for a in ("temporal", "vertical", "horizontal")
        )
        kwargs["video"] = VideoCfg(size(shared or tree, "tx/"), tuple(kernel.shape[:3]), buckets)
    if "audio" in modules:
        tree = modules["audio"]
        kwargs["audio"] = AudioCfg(
            size(shared or tree, "tx/"),
            tree["wave_to_patch/kernel"].shape[0],
            tree["pos_embedding_lookup/temporal_position_embeddings/embeddings"].shape[0],
        )
    if "text" in modules:
        tree = modules["text"]
        vocab, embed = tree["embedding/embeddings"].shape
        if shared:
            words = tree["pos_embedding_lookup/temporal_position_embeddings/embeddings"].shape[0]
            width = size(shared, "tx/")
        else:
            words, width = TextCfg.max_words, size(tree, "base_lm/")
        kwargs["text"] = TextCfg(width, vocab_size=vocab, embed_dim=embed, max_words=words)
    if agnostic:
        post = next(
            t["post_tx_projection/kernel"]
            for t in modules.values()
            if "post_tx_projection/kernel" in t
        )
        kwargs["post_dim"] = post.shape[1]
    if "spaces" in modules:
        tree = modules["spaces"]
        kwargs["spaces"] = SpacesCfg(
            va_dim=tree["vid_to_hid/kernel"].shape[1], vt_dim=tree["txt_to_vat/kernel"].shape[1]
        )
    else:
        kwargs["spaces"] = SpacesCfg(kind="none")
    if "head" in modules:
        kwargs["num_classes"] = modules["head"]["kernel"].shape[1]
    return VattCfg(modalities=tuple(modalities), **kwargs)


def registered_name(cfg) -> str | None:
    """The registered VATT whose config equals ``cfg`` (sizes and all), if any."""
    from ..models.vatt import VARIANTS

    return next((name for name, (known, _) in VARIANTS.items() if known == cfg), None)


def build_model(official: dict[str, np.ndarray], origin: str, model_name: str | None = None):
    """The registered avpet VATT (``model_name``, or the one whose architecture the shapes
    describe) holding the converted weights; strict: nothing missing, nothing left over."""
    from ..factory import create_model
    from ..hub.weights import load_into

    name = model_name or registered_name(infer_cfg(official, origin))
    if name is None:
        raise ConfigError(
            f"{origin}: no registered VATT has this checkpoint's architecture "
            f"({infer_cfg(official, origin)}); pass --model NAME to load it into one"
        )
    model = create_model(name)
    state = convert_state_dict(official, origin)
    load_into(model, state, origin, strict=True)
    return model.eval()


def convert_official(source: str | Path, out: str | Path, model_name: str | None = None) -> Path:
    """Read the official checkpoint ``source`` and write the avpet hub repo ``out``."""
    from ..hub import save_pretrained
    from .cards import VATT_CARDS

    model = build_model(load_official(source), str(source), model_name)
    card = VATT_CARDS.get(model.model_name)
    model.pretrained_cfg = replace(
        model.pretrained_cfg,
        tag="official",
        license=LICENSE,
        description=(card.description if card else f"VATT weights converted from {SOURCE}."),
    )
    return save_pretrained(model, out, training_data=card.training_data if card else None)

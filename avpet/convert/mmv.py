"""The official MMV checkpoints (deepmind-research ``mmv/``, dill pickles of Haiku
``{"params", "state"}``) as avpet :class:`~avpet.models.mmv_official.MMVOfficial`.

The pickle is read by :mod:`.safe_pickle` (numpy arrays and plain containers only). Params and
state are ``{module_path: {name: array}}``; paths are compared without Haiku's method scopes
(``~``, ``~_get_pair_embedding_heads``: Haiku versions differ in writing them), without the top
module's name and the backbone's own (``S3D``, ``res_net_v2``, ``tsm_res_net_v2``), and with
BatchNorms (``cross_replica_batch_norm``, ``__cross_replica_batch_norm_1``, …) called ``bn``,
``bn_1``, …. BatchNorm statistics are the EMAs' ``average`` (their ``hidden`` and ``counter`` are
the EMA's bookkeeping, not weights, and are skipped like any optimizer state outside
``params``/``state``); ``num_batches_tracked``, which PyTorch keeps, is set to 0.

Layouts: Haiku kernels are channels-last (``[kt, kh, kw, in, out]``, ``[kh, kw, in, out]``,
``Linear`` ``[in, out]``, the text ``Conv1D`` ``[1, in, out]``); BatchNorm ``scale``/``offset``
are ``[1, …, 1, C]``. The architecture is read off the shapes and must equal a registered one
unless ``model_name`` is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import CheckpointError, ConfigError
from .safe_pickle import load_pickle

EMA_BOOKKEEPING = ("hidden", "counter")
BN = re.compile(r"^_*(?:cross_replica_)?batch_norm(_\d+)?$")
BACKBONES = ("visual_module", "audio_module")

Convert = Callable[[np.ndarray], Tensor]


def _t(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _conv(a: np.ndarray) -> Tensor:  # [*kernel, in, out] → [out, in, *kernel]
    return _t(np.moveaxis(a, (-1, -2), (0, 1)))


def _linear(a: np.ndarray) -> Tensor:  # [in, out] (or Conv1D [1, in, out]) → [out, in]
    return _t(a.reshape(a.shape[-2:]).T)


def _flat(a: np.ndarray) -> Tensor:  # BatchNorm [1, …, C] → [C]
    return _t(a.reshape(-1))


def canonical(path: str) -> str:
    """A Haiku module path as compared here (see the module docstring)."""
    parts = [p for p in path.split("/") if p and not p.startswith("~")][1:]
    if parts and parts[0] in BACKBONES:
        del parts[1:2]
    return "/".join(f"bn{m[1] or ''}" if (m := BN.match(p)) else p for p in parts)


def load_official(path: str | Path) -> dict[str, np.ndarray]:
    """``{canonical module path/name: array}`` of an MMV pickle: its ``params`` and the
    BatchNorm averages of its ``state`` (``…/bn/mean_ema/average``)."""
    tree = load_pickle(path)
    if not isinstance(tree, dict) or not {"params", "state"} <= tree.keys():
        raise CheckpointError(path, "not an MMV checkpoint: expected a dict with params and state")
    flat: dict[str, np.ndarray] = {}
    for part in ("params", "state"):
        if not isinstance(tree[part], dict):
            raise CheckpointError(path, f"{part} is a {type(tree[part]).__name__}, not a mapping")
        for module, leaves in tree[part].items():
            if not isinstance(leaves, dict):
                raise CheckpointError(path, f"{part}[{module!r}] is not a mapping of arrays")
            for name, value in leaves.items():
                if part == "state" and name in EMA_BOOKKEEPING:
                    continue
                if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
                    kind = getattr(value, "dtype", type(value).__name__)
                    raise CheckpointError(
                        path, f"{part}[{module!r}][{name!r}] is not a numeric array ({kind})"
                    )
                key = f"{canonical(module)}/{name}"
                if key in flat:
                    raise CheckpointError(path, f"two entries map to {key}")
                flat[key] = value
    return flat


# ---- placement: avpet key -> (official key, conversion) --------------------------------------


def _bn(ours: str, theirs: str) -> Iterator[tuple[str, str, Convert]]:
    yield f"{ours}.weight", f"{theirs}/scale", _flat
    yield f"{ours}.bias", f"{theirs}/offset", _flat
    yield f"{ours}.running_mean", f"{theirs}/mean_ema/average", _flat
    yield f"{ours}.running_var", f"{theirs}/var_ema/average", _flat


def _dense(ours: str, theirs: str, bias: bool = True) -> Iterator[tuple[str, str, Convert]]:
    yield f"{ours}.weight", f"{theirs}/w", _linear
    if bias:
        yield f"{ours}.bias", f"{theirs}/b", _t


def _unit(ours: str, theirs: str, unit) -> Iterator[tuple[str, str, Convert]]:
    """An S3D ``SUnit3D``: ``conv3_d``, ``conv3_d_1``, their BNs and ``self_gating``."""
    for i in range(len(unit.convs)):
        suffix = f"_{i}" if i else ""
        yield f"{ours}.convs.{i}.conv.weight", f"{theirs}/conv3_d{suffix}/w", _conv
        yield from _bn(f"{ours}.norms.{i}", f"{theirs}/bn{suffix}")
    if unit.gate is not None:
        yield from _dense(f"{ours}.gate", f"{theirs}/self_gating")


def _s3d(net) -> Iterator[tuple[str, str, Convert]]:
    from ..layers.s3d_mmv import InceptionMMV, Unit

    branches = {
        "branch_0": "Branch_0_Conv2d_0a_1x1",
        "branch_1.0": "Branch_1_Conv2d_0a_1x1",
        "branch_1.1": "Branch_1_Conv2d_0b_3x3",
        "branch_2.0": "Branch_2_Conv2d_0a_1x1",
        "branch_2.1": "Branch_2_Conv2d_0b_3x3",
        "branch_3.1": "Branch_3_Conv2d_0b_1x1",
    }
    for name, layer in net.layers.items():
        ours = f"encoders.video.layers.{name}"
        if isinstance(layer, Unit):
            yield from _unit(ours, f"visual_module/{name}", layer)
        elif isinstance(layer, InceptionMMV):
            for branch, theirs in branches.items():
                yield from _unit(
                    f"{ours}.{branch}",
                    f"visual_module/{name}/{theirs}",
                    layer.get_submodule(branch),
                )


def _resnet(
    ours: str, theirs: str, net, stem: str, unit: str
) -> Iterator[tuple[str, str, Convert]]:
    """A ResNet v2 (audio: ``initial_conv``, ``block_group_U``; TSM: ``tsm_resnet_stem``,
    ``tsm_resnet_unit_U``)."""
    yield f"{ours}.stem.0.conv.weight", f"{theirs}/{stem}/w", _conv
    k = 0
    for u, depth in enumerate(net.cfg.layers):
        for b in range(depth):
            block, path = net.blocks[k], f"{theirs}/{unit}_{u}/block_{b}"
            for i in range(3):
                yield f"{ours}.blocks.{k}.convs.{i}.conv.weight", f"{path}/conv_{i}/w", _conv
                yield from _bn(f"{ours}.blocks.{k}.norms.{i}", f"{path}/bn{f'_{i}' if i else ''}")
            if block.shortcut is not None:
                yield f"{ours}.blocks.{k}.shortcut.conv.weight", f"{path}/shortcut_conv/w", _conv
            k += 1
    yield from _bn(f"{ours}.norm", f"{theirs}/bn")


HEADS = (  # avpet sub-module of ``spaces``, official module, bias
    ("video_va.0", "vid2audio_embd/final_projection_inner", True),
    ("video_va.3", "vid2audio_embd/final_projection", False),
    ("va_to_vt.1", "vis_embd/final_projection", True),
    ("audio_va", "audio_embd/final_projection", True),
    ("audio_at", "audio2txt_embd/final_projection", True),
    ("text_vt", "txt_embd/final_projection", True),
    ("text_at", "txt2audio_embd/final_projection", True),
)
HEAD_NORMS = (("video_va.1", "vid2audio_embd/bn"), ("video_va.4", "vid2audio_embd/bn_1"),
              ("va_to_vt.2", "vis_embd/bn"))  # fmt: skip


def placements(model) -> Iterator[tuple[str, str, Convert]]:
    """``(avpet key, official key, conversion)`` for every weight of ``model`` (an
    :class:`~avpet.models.mmv_official.MMVOfficial`)."""
    encoders = model.encoders
    if "video" in encoders:
        if model.cfg.video_backbone == "s3d":
            yield from _s3d(encoders["video"])
        else:
            yield from _resnet(
                "encoders.video.resnet", "visual_module", encoders["video"].resnet,
                "tsm_resnet_stem", "tsm_resnet_unit",
            )  # fmt: skip
    if "audio" in encoders:
        yield from _resnet(
            "encoders.audio.resnet", "audio_module", encoders["audio"].resnet,
            "initial_conv", "block_group",
        )  # fmt: skip
    if "text" in encoders:
        yield "encoders.text.table.weight", "text_module/embed/embeddings", _t
        yield from _dense("encoders.text.proj", "text_module/text_conv1")
    if model.spaces is not None:
        for ours, theirs, bias in HEADS:
            if model.spaces.get_submodule(ours.split(".")[0]) is not None:
                yield from _dense(f"spaces.{ours}", theirs, bias)
        for ours, theirs in HEAD_NORMS:
            if model.spaces.get_submodule(ours.split(".")[0]) is not None:
                yield from _bn(f"spaces.{ours}", theirs)


def convert_state_dict(official: dict[str, np.ndarray], model, origin: str = "checkpoint") -> dict:
    """Official arrays → ``model``'s state dict; every official array used exactly once, every
    avpet weight found (else :class:`CheckpointError` naming ``origin``)."""
    state: dict[str, Tensor] = {}
    missing = []
    for ours, theirs, convert in placements(model):
        if theirs not in official:
            missing.append(theirs)
            continue
        state[ours] = convert(official[theirs])
        if ours.rsplit(".", 1)[1] == "running_var":
            state[ours.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    unexpected = sorted(official.keys() - {t for _, t, _ in placements(model)})
    for problem, keys in (("missing", missing), ("with no avpet counterpart", unexpected)):
        if keys:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            raise CheckpointError(origin, f"MMV arrays {problem}: {keys[:5]}{more}")
    return state


# ---- architecture ---------------------------------------------------------------------------


def _out(official: dict[str, np.ndarray], key: str) -> int:
    return int(official[key].shape[-1])


def _resnet_cfg(official: dict[str, np.ndarray], prefix: str, stem: str, unit: str, shift: bool):
    from ..layers.resnet_v2 import ResNetV2Cfg

    units = sorted({int(m[1]) for k in official if (m := re.match(rf"{prefix}/{unit}_(\d+)/", k))})
    layers = tuple(
        len({m[1] for k in official if (m := re.match(rf"{prefix}/{unit}_{u}/block_(\d+)/", k))})
        for u in units
    )
    first = [f"{prefix}/{unit}_{u}/block_0" for u in units]
    return ResNetV2Cfg(
        layers=layers,
        stem=_out(official, f"{prefix}/{stem}/w"),
        widths=tuple(_out(official, f"{b}/conv_2/w") for b in first),
        bottlenecks=tuple(_out(official, f"{b}/conv_0/w") for b in first),
        in_channels=int(official[f"{prefix}/{stem}/w"].shape[-2]),
        shift=shift,
    )


def infer_cfg(official: dict[str, np.ndarray], origin: str = "checkpoint"):
    """The :class:`~avpet.models.mmv_official.MMVOfficialCfg` the checkpoint's shapes describe."""
    from ..layers.s3d_mmv import S3DMMVCfg
    from ..layers.spaces import SpacesCfg
    from ..models.mmv import WordPoolCfg
    from ..models.mmv_official import MMVOfficialCfg

    kwargs: dict = {}
    modalities = []
    try:
        if "visual_module/Conv2d_1a_7x7/conv3_d/w" in official:
            stem = official["visual_module/Conv2d_1a_7x7/conv3_d/w"]
            if stem.shape[:4] != (2, 4, 4, 24):
                raise CheckpointError(
                    origin, f"S3D stem kernel {stem.shape}: only the released space-to-depth "
                    "stem [2, 4, 4, 24, C] is supported"
                )  # fmt: skip
            unit = "visual_module/Mixed_{}/Branch_{}_Conv2d_0{}/conv3_d{}/w"
            inception = tuple(
                _out(official, unit.format(block, *branch))
                for block in ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")
                for branch in (("0", "a_1x1", ""), ("1", "a_1x1", ""), ("1", "b_3x3", "_1"),
                               ("2", "a_1x1", ""), ("2", "b_3x3", "_1"), ("3", "b_1x1", ""))
            )  # fmt: skip
            stems = ("Conv2d_1a_7x7/conv3_d", "Conv2d_2b_1x1/conv3_d", "Conv2d_2c_3x3/conv3_d_1")
            channels = tuple(_out(official, f"visual_module/{s}/w") for s in stems)
            kwargs["s3d"] = S3DMMVCfg(stem=channels, inception=inception)
            modalities.append("video")
        elif "visual_module/tsm_resnet_stem/w" in official:
            kwargs["video_backbone"] = "tsm"
            kwargs["tsm"] = _resnet_cfg(
                official, "visual_module", "tsm_resnet_stem", "tsm_resnet_unit", True
            )
            modalities.append("video")
        if "audio_module/initial_conv/w" in official:
            kwargs["audio"] = _resnet_cfg(
                official, "audio_module", "initial_conv", "block_group", False
            )
            modalities.append("audio")
        if "text_module/embed/embeddings" in official:
            vocab, embed = official["text_module/embed/embeddings"].shape
            hidden = _out(official, "text_module/text_conv1/w")
            kwargs["text"] = WordPoolCfg(vocab, embed, hidden, mask_padding=False)
            modalities.append("text")
        if not {"video", "audio"} & set(modalities):
            raise CheckpointError(origin, "no MMV video or audio network in this checkpoint")
        if any(k.startswith(("vid2audio_embd/", "audio_embd/")) for k in official):
            key = "vid2audio_embd/final_projection/w"
            va = _out(official, key if key in official else "audio_embd/final_projection/w")
            vt_key = next(
                f"{m}/final_projection/w" for m in ("vis_embd", "txt_embd")
                if f"{m}/final_projection/w" in official
            )  # fmt: skip
            kwargs["spaces"] = SpacesCfg(va_dim=va, vt_dim=_out(official, vt_key), bn_eps=1e-5)
            if "vid2audio_embd/final_projection_inner/w" in official:
                kwargs["va_hidden"] = _out(official, "vid2audio_embd/final_projection_inner/w")
            at_key = next(
                (f"{m}/final_projection/w" for m in ("txt2audio_embd", "audio2txt_embd")
                 if f"{m}/final_projection/w" in official), None,
            )  # fmt: skip
            if at_key:
                kwargs["at_dim"] = _out(official, at_key)
        else:
            kwargs["spaces"] = SpacesCfg(kind="none", bn_eps=1e-5)
        return MMVOfficialCfg(modalities=tuple(modalities), **kwargs)
    except (KeyError, StopIteration) as error:
        raise CheckpointError(origin, f"incomplete MMV checkpoint: no {error}") from error
    except ConfigError as error:
        raise CheckpointError(origin, f"not a consistent MMV architecture: {error}") from error


def registered_name(cfg) -> str | None:
    """The registered released MMV whose config equals ``cfg``, if any."""
    from ..models.mmv_official import VARIANTS

    return next((name for name, (known, _) in VARIANTS.items() if known == cfg), None)


def build_model(official: dict[str, np.ndarray], origin: str, model_name: str | None = None):
    """The registered avpet MMV (``model_name``, or the one the shapes describe) holding the
    converted weights; strict: nothing missing, nothing left over."""
    from ..factory import create_model
    from ..hub.weights import load_into
    from ..models.mmv_official import MMVOfficial

    cfg = infer_cfg(official, origin)
    name = model_name or registered_name(cfg)
    if name is None:
        raise ConfigError(
            f"{origin}: no registered MMV has this checkpoint's architecture ({cfg}); pass "
            "--model NAME to load it into one"
        )
    model = create_model(name)
    if not isinstance(model, MMVOfficial):
        raise ConfigError(
            f"{name} is not one of the authors' MMV networks "
            "(mmv_{s3d,tsm_resnet50,tsm_resnet50x2}_*)"
        )
    load_into(model, convert_state_dict(official, model, origin), origin, strict=True)
    return model.eval()


def convert_official(source: str | Path, out: str | Path, model_name: str | None = None) -> Path:
    """Read the official checkpoint ``source`` and write the avpet hub repo ``out``."""
    from ..hub import save_pretrained
    from ..models.mmv_official import LICENSE
    from .cards import MMV_CARDS, MMV_GENERIC

    model = build_model(load_official(source), str(source), model_name)
    card = MMV_CARDS.get(model.model_name, MMV_GENERIC)
    model.pretrained_cfg = replace(
        model.pretrained_cfg, tag="official", license=LICENSE, description=card.description
    )
    return save_pretrained(model, out, training_data=card.training_data)

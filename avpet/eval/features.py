"""Frozen features of a model at every level, one modality at a time.

A modality is run alone, so its features never see the other modality. Inputs are sequences:
visual ``[B, T, 3, F, H, W]``, audio ``[B, T, ...]`` as the data pipeline gives them.

AVBERT (``forward_features(visual=...)`` or ``(audio=...)``), levels:

* ``cnn``: the clip's CNN feature ``[B, T, C_m]``;
* ``tokens``: that feature projected to the Transformer's width ``[B, T, D]``, where the two
  modalities share a space (what the clip contrast of ``avc.level = "tokens"`` trains);
* ``unimodal``: the modality's Transformer output at the clip ``[B, T, D]`` (mid / late fusion);
* ``multimodal``: the multimodal Transformer output at the clip ``[B, T, D]`` (early / mid fusion;
  the sequence holds this modality only);
* ``bos``: the last stage's BOS summary of the whole sequence ``[B, D]``.

Peers (VATT, MMV: :class:`~avpet.models.joint.JointModel`) take one clip per sample, so the
``B·T`` clips are encoded as separate samples (``forward_features(video=...)`` or
``(audio=...)``), levels:

* ``pooled``: the backbone's pooled feature of the clip ``[B, T, C_m]``;
* ``joint``: the clip's embedding in the video-audio joint space S_va ``[B, T, D_va]`` (models
  with joint spaces and both modalities).
"""

from __future__ import annotations

import sys
import time

import torch
from torch import Tensor, nn

from ..errors import ConfigError

AVBERT_LEVELS = ("cnn", "tokens", "unimodal", "multimodal", "bos")
PEER_LEVELS = ("pooled", "joint")
CLIP_LEVELS = (*AVBERT_LEVELS[:-1], *PEER_LEVELS)  # one feature per clip; ``bos`` per sequence
LEVELS = (*AVBERT_LEVELS, *PEER_LEVELS)
SELECT = "select"  # levels chosen on the training split: :mod:`avpet.eval.selection`
PEER_MODALITY = {"visual": "video", "audio": "audio"}  # eval's modality names → the peers'


def load_model(name: str, pretrained: bool | str, seed: int) -> nn.Module:
    """``create_model(name, pretrained)`` in eval mode; random init is seeded by ``seed``."""
    from ..registry import create_model

    torch.manual_seed(seed)
    return create_model(name, pretrained=pretrained).eval()


def is_peer(model: nn.Module) -> bool:
    """Whether ``model`` is a VATT / MMV peer, which encodes each clip as a sample of its own."""
    from ..models.joint import JointModel

    return isinstance(model, JointModel)


def has_joint_space(model: nn.Module) -> bool:
    """Whether the peer ``model`` embeds video and audio in a joint space S_va."""
    return model.spaces is not None and {"video", "audio"} <= set(model.cfg.modalities)


def default_level(model: nn.Module) -> str:
    """The headline level: AVBERT's unimodal Transformer output (the multimodal one for early
    fusion, which has no unimodal Transformer); a peer's joint-space embedding (what its
    contrastive objective trains), or its pooled feature when it has no joint space."""
    if is_peer(model):
        return "joint" if has_joint_space(model) else "pooled"
    return "unimodal" if "visual" in model.cfg.streams else "multimodal"


def check_level(model: nn.Module, level: str) -> str:
    """``level`` (``"auto"`` → :func:`default_level`) if ``model`` computes it or it is
    ``"select"``, else ConfigError."""
    if level == "auto":
        return default_level(model)
    if level == SELECT:
        return level
    available = available_levels(model)
    if level not in available:
        raise ConfigError(f"level {level!r} is not computed by this model; choose from {available}")
    return level


def available_levels(model: nn.Module) -> tuple[str, ...]:
    """Levels that ``model`` computes (an AVBERT model: those of its fusion)."""
    if is_peer(model):
        return PEER_LEVELS if has_joint_space(model) else PEER_LEVELS[:1]
    streams = model.cfg.streams
    computed = {"unimodal": "visual" in streams, "multimodal": "multimodal" in streams}
    return tuple(level for level in AVBERT_LEVELS if computed.get(level, True))


@torch.no_grad()
def modality_levels(model: nn.Module, modality: str, x: Tensor) -> dict[str, Tensor]:
    """Features of the sequences ``x`` (visual ``[B, T, 3, F, H, W]``, audio ``[B, T, ...]``) of
    ``modality`` alone, at every level ``model`` computes: clip levels ``[B, T, C]``, ``bos``
    ``[B, D]``."""
    if is_peer(model):
        return _peer_levels(model, modality, x)
    feats = model.forward_features(**{modality: x})
    out = {level: feats[f"{modality}_{level}"] for level in ("cnn", "tokens", "bos")}
    if modality in feats:
        out["unimodal"] = feats[modality][:, 1:]
    if "multimodal" in feats:
        out["multimodal"] = feats["multimodal"][:, 1:]
    return out


def _peer_levels(model: nn.Module, modality: str, x: Tensor) -> dict[str, Tensor]:
    """A peer's ``pooled`` (and ``joint``) ``[B, T, C]``: the ``B·T`` clips encoded as samples."""
    name = PEER_MODALITY[modality]
    feats = model.forward_features(**{name: x.flatten(0, 1)})
    out = {"pooled": feats[f"{name}_pooled"]}
    if has_joint_space(model):
        out["joint"] = model.forward_head(feats)[f"{name}_va"]
    return {level: value.unflatten(0, x.shape[:2]) for level, value in out.items()}


class Progress:
    """``done/total`` lines on stderr, at most one every ``every`` seconds."""

    def __init__(self, what: str, total: int, every: float = 10.0):
        self.what, self.total, self.every = what, total, every
        self.start = self.last = time.monotonic()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every or done == self.total:
            self.last = now
            print(
                f"{self.what}: {done}/{self.total} ({now - self.start:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

"""Frozen features of an AVBERT model at every level, one modality at a time.

A modality is run alone (``forward_features(visual=...)`` or ``(audio=...)``), so its features
never see the other modality. Levels:

* ``cnn``: the clip's CNN feature ``[B, T, C_m]``;
* ``unimodal``: the modality's Transformer output at the clip ``[B, T, D]`` (mid / late fusion);
* ``multimodal``: the multimodal Transformer output at the clip ``[B, T, D]`` (early / mid fusion;
  the sequence holds this modality only);
* ``bos``: the last stage's BOS summary of the whole sequence ``[B, D]``.
"""

from __future__ import annotations

import sys
import time

import torch
from torch import Tensor, nn

from ..errors import ConfigError

CLIP_LEVELS = ("cnn", "unimodal", "multimodal")
LEVELS = (*CLIP_LEVELS, "bos")


def load_model(name: str, pretrained: bool | str, seed: int) -> nn.Module:
    """``create_model(name, pretrained)`` in eval mode; random init is seeded by ``seed``."""
    from ..registry import create_model

    torch.manual_seed(seed)
    return create_model(name, pretrained=pretrained).eval()


def default_level(model: nn.Module) -> str:
    """The headline level: the unimodal Transformer output, or the multimodal one for early
    fusion (which has no unimodal Transformer)."""
    return "unimodal" if "visual" in model.cfg.streams else "multimodal"


def check_level(model: nn.Module, level: str) -> str:
    """``level`` (``"auto"`` → :func:`default_level`) if ``model`` computes it, else ConfigError."""
    if level == "auto":
        return default_level(model)
    available = available_levels(model)
    if level not in available:
        raise ConfigError(f"level {level!r} is not computed by this model; choose from {available}")
    return level


def available_levels(model: nn.Module) -> tuple[str, ...]:
    """Levels that ``model``'s fusion computes."""
    streams = model.cfg.streams
    computed = {"unimodal": "visual" in streams, "multimodal": "multimodal" in streams}
    return tuple(level for level in LEVELS if computed.get(level, True))


@torch.no_grad()
def modality_levels(model: nn.Module, modality: str, x: Tensor) -> dict[str, Tensor]:
    """Features of ``x`` (visual ``[B, T, 3, F, H, W]`` or audio ``[B, T, 1, M, L]``) alone:
    ``cnn``/``unimodal``/``multimodal`` ``[B, T, C]`` and ``bos`` ``[B, D]`` (those computed)."""
    feats = model.forward_features(**{modality: x})
    out = {"cnn": feats[f"{modality}_cnn"], "bos": feats[f"{modality}_bos"]}
    if modality in feats:
        out["unimodal"] = feats[modality][:, 1:]
    if "multimodal" in feats:
        out["multimodal"] = feats["multimodal"][:, 1:]
    return out


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

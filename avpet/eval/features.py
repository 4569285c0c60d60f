"""Frozen features of a model at every level, one modality at a time.

A modality is run alone, so its features never see the other modality. Inputs are sequences:
visual ``[B, T, 3, F, H, W]``, audio ``[B, T, ...]`` as the data pipeline gives them. The levels
are the model's own (:meth:`~avpet.models.contract.AVModel.feature_levels`; docs/evaluation.md
lists them per family): clip levels ``[B, T, C]``, sequence levels ``[B, C]``.
"""

from __future__ import annotations

import sys
import time

import torch
from torch import Tensor, nn

from ..factory import create_model
from ..hub.sources import weights_request

SELECT = "select"  # levels chosen on the training split: :mod:`avpet.eval.selection`


def load_model(name: str, pretrained: bool | str, seed: int) -> nn.Module:
    """``create_model(name, pretrained)`` in eval mode (``NAME.TAG`` loads the tag's weights, see
    :func:`avpet.hub.weights_request`); random init is seeded by ``seed``."""
    torch.manual_seed(seed)
    return create_model(name, pretrained=weights_request(name, pretrained)).eval()


def check_level(model: nn.Module, level: str) -> str:
    """``level`` (``"auto"`` → the model's ``default_level``) if ``model`` computes it or it is
    ``"select"``, else ConfigError."""
    if level == "auto":
        return model.default_level
    if level == SELECT:
        return level
    return model.feature_level(level).name


def available_levels(model: nn.Module) -> tuple[str, ...]:
    """Names of the levels that ``model`` computes."""
    return tuple(level.name for level in model.feature_levels())


@torch.no_grad()
def modality_levels(model: nn.Module, modality: str, x: Tensor) -> dict[str, Tensor]:
    """Features of the sequences ``x`` of ``modality`` alone at every level ``model`` computes
    for it."""
    return model.modality_features(modality, x)


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

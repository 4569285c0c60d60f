"""The one contract every model of the zoo keeps, whatever its family.

``forward_features(visual=..., audio=...)`` takes sequences of aligned clips, visual
``[B, T, 3, F, H, W]`` and audio ``[B, T, ...]`` (the layout of :mod:`avpet.data`; either may be
omitted), and returns named levels under ``"{modality}_{level}"``: ``[B, T, C]`` for a level with
one feature per clip, ``[B, C]`` for one per sequence. :meth:`AVModel.feature_levels` says which
levels a model computes (the role of timm's ``feature_info`` / ``forward_intermediates``), and
three attributes say how to use them:

* ``default_level``: the headline level of an evaluation or an extraction;
* ``joint_level``: the level at which visual and audio clips share one space (what the
  audio-visual contrast trains and what retrieval and search compare), or ``None``;
* ``clips_alone``: ``True`` when every clip is encoded on its own (VATT, MMV: any ``T``),
  ``False`` when a clip's features depend on the other clips of its sequence (AVBERT: ``T`` is
  at most the model's position slots).

``default_task`` names the pretraining task of :mod:`avpet.pretrain.tasks` made for the model;
``summary`` is the family's architecture in one phrase (a model card's "Architecture").
Consumers (evaluation, extraction, the pretraining loop) talk only to this contract; layout
arithmetic stays in the model files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from ..errors import ConfigError

MODALITIES = ("visual", "audio")


@dataclass(frozen=True)
class FeatureLevel:
    """One named output of ``forward_features``.

    ``dims``: the feature width per modality that has this level; ``per_clip``: ``[B, T, C]``
    (else ``[B, C]`` per sequence); ``shared``: the visual and audio features of this level live
    in one space (comparable across modalities).
    """

    name: str
    dims: Mapping[str, int]
    per_clip: bool = True
    shared: bool = False
    description: str = ""

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.dims)


class AVModel(nn.Module):
    """Base of every model in the registry; see the module docstring for the contract."""

    default_level: str
    joint_level: str | None
    clips_alone: bool
    default_task: str
    summary: str

    def feature_levels(self) -> tuple[FeatureLevel, ...]:
        raise NotImplementedError

    def forward_features(
        self, visual: Tensor | None = None, audio: Tensor | None = None
    ) -> dict[str, Tensor]:
        raise NotImplementedError

    def parameter_counts(self) -> dict[str, int]:
        raise NotImplementedError

    def feature_level(self, name: str) -> FeatureLevel:
        """The level called ``name`` (ConfigError naming the levels this model has)."""
        for level in self.feature_levels():
            if level.name == name:
                return level
        names = [level.name for level in self.feature_levels()]
        raise ConfigError(f"level {name!r} is not computed by this model; choose from {names}")

    def joint_clips(self, modality: str, clips: Tensor) -> Tensor:
        """Joint-space embedding of each clip encoded on its own: ``clips`` ``[N, ...]`` (one
        clip of ``modality`` per row) → ``[N, C]``. What sync scoring compares, for any ``N``."""
        if self.joint_level is None:
            raise ConfigError("this model has no joint audio-visual space")
        return self.modality_features(modality, clips.unsqueeze(1))[self.joint_level][:, 0]

    def modality_features(self, modality: str, x: Tensor) -> dict[str, Tensor]:
        """Every level of ``modality`` for the sequences ``x`` of that modality alone:
        ``{level: [B, T, C] or [B, C]}``."""
        feats = self.forward_features(**{modality: x})
        return {
            level.name: feats[f"{modality}_{level.name}"]
            for level in self.feature_levels()
            if modality in level.modalities
        }

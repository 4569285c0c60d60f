"""Shared interface of the joint-embedding peers (VATT, MMV): heads, forward, parameter counts."""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import ConfigError
from ..layers.spaces import JointSpaces

MODALITIES = ("video", "audio", "text")


def check_joint_cfg(modalities: tuple[str, ...], num_classes: int, spaces_kind: str) -> None:
    """The config checks VATT and MMV share: modalities, classifier, joint spaces."""
    if not modalities or set(modalities) - set(MODALITIES):
        raise ConfigError(f"modalities must be a non-empty subset of {MODALITIES}: {modalities}")
    if num_classes < 0:
        raise ConfigError(f"num_classes must be >= 0, got {num_classes}")
    if num_classes and "video" not in modalities:
        raise ConfigError("the classifier reads the video features: add 'video' to modalities")
    if spaces_kind != "none" and len(modalities) < 2:
        raise ConfigError("joint spaces need at least two modalities (or spaces kind 'none')")


def count_parameters(module: nn.Module | None, trainable_only: bool = False) -> int:
    """Distinct parameters of ``module`` (optionally only those that require grad)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class JointModel(nn.Module):
    """Per-modality encoders, joint-space heads (``self.spaces``) and an optional video classifier
    (``self.head``). Subclasses implement :meth:`forward_features` returning ``{m}_pooled``."""

    spaces: JointSpaces | None
    head: nn.Module | None

    def forward_features(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        raise NotImplementedError

    def forward_head(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """Pooled features → joint-space embeddings (``video_va``, ``video_vt``, ``audio_va``,
        ``text_vt``, those computable) and, with a classifier, ``logits`` [B, num_classes]."""
        out: dict[str, Tensor] = {}
        if self.spaces is not None:
            out = self.spaces(*(features.get(f"{m}_pooled") for m in MODALITIES))
        if self.head is not None and "video_pooled" in features:
            out["logits"] = self.head(features["video_pooled"])
        return out

    def forward(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        return self.forward_head(self.forward_features(video, audio, text))

    def base_counts(self, parts: dict[str, tuple[nn.Module, ...]]) -> dict[str, int]:
        """``total`` (frozen word table included), ``trainable``, trainable per modality (the
        modules in ``parts[modality]``), ``text_embedding_frozen``, ``spaces``, ``classifier``."""
        counts = {
            "total": count_parameters(self),
            "trainable": count_parameters(self, trainable_only=True),
        }
        for modality, modules in parts.items():
            counts[modality] = sum(count_parameters(m, trainable_only=True) for m in modules)
        if "text" in parts:
            frozen = sum(count_parameters(m) for m in parts["text"]) - counts["text"]
            counts["text_embedding_frozen"] = frozen
        counts["spaces"] = count_parameters(self.spaces)
        counts["classifier"] = count_parameters(self.head)
        return counts

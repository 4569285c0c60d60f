"""Shared interface of the joint-embedding peers (VATT, MMV): heads, forward, parameter counts."""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor, nn

from ..errors import ConfigError
from ..layers.spaces import JointSpaces
from .contract import AVModel, FeatureLevel

MODALITIES = ("video", "audio", "text")  # the peers' own names, as in their papers
PEER_NAMES = {"visual": "video", "audio": "audio", "text": "text"}  # contract name → peer name
CONTRACT_NAMES = {peer: name for name, peer in PEER_NAMES.items()}


def check_joint_cfg(modalities: tuple[str, ...], num_classes: int, spaces_kind: str) -> None:
    """The config checks VATT and MMV share: modalities, classifier, joint spaces."""
    if not modalities or set(modalities) - set(MODALITIES):
        raise ConfigError(f"modalities must be a non-empty subset of {MODALITIES}: {modalities}")
    if num_classes < 0:
        raise ConfigError(f"num_classes must be >= 0, got {num_classes}")
    if num_classes and not {"video", "audio"} & set(modalities):
        raise ConfigError(
            "the classifier reads the video (else the audio) features: add one to modalities"
        )
    if spaces_kind != "none" and len(modalities) < 2:
        raise ConfigError("joint spaces need at least two modalities (or spaces kind 'none')")


def classified_modality(modalities: tuple[str, ...]) -> str:
    """The modality a classifier reads: video if the model has it, else audio (VATT's AudioSet
    classifier)."""
    return "video" if "video" in modalities else "audio"


def count_parameters(module: nn.Module | None, trainable_only: bool = False) -> int:
    """Distinct parameters of ``module`` (optionally only those that require grad)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class JointModel(AVModel):
    """Per-modality encoders, joint-space heads (``self.spaces``) and an optional classifier
    (``self.head``, on the video features, or the audio ones in an audio-only model: VATT's
    AudioSet classifiers). Subclasses implement :meth:`encode_clips`.

    The contract (:mod:`avpet.models.contract`): every clip of the ``B·T`` in a sequence batch is
    encoded as a sample of its own; levels ``pooled`` (the backbone's pooled feature per clip),
    ``joint`` (the clip in the video-audio space S_va, with joint spaces and both modalities) and,
    only when word ids are given too, ``visual_joint_vt`` / ``text_joint_vt`` (video and text in
    S_vt, what the video-text MIL-NCE contrasts).
    """

    clips_alone = True
    default_task = "contrastive"
    spaces: JointSpaces | None
    head: nn.Module | None

    def encode_clips(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """One sample per clip: ``{m}_pooled`` [N, C_m] for each given modality ``m`` of
        ``video`` [N, 3, F, H, W], ``audio`` [N, ...] and ``text`` [N, L]."""
        raise NotImplementedError

    def feature_dim(self, modality: str) -> int:
        """Width of the pooled feature of ``modality`` (video, audio, text)."""
        raise NotImplementedError

    @property
    def has_joint_space(self) -> bool:
        return self.spaces is not None and {"video", "audio"} <= set(self.cfg.modalities)

    @property
    def joint_level(self) -> str | None:
        return "joint" if self.has_joint_space else None

    @property
    def default_level(self) -> str:
        """The joint-space embedding (what the contrastive objective trains), else pooled."""
        return self.joint_level or "pooled"

    def feature_levels(self) -> tuple[FeatureLevel, ...]:
        present = [m for m, peer in PEER_NAMES.items() if peer in self.cfg.modalities]
        pooled = {m: self.feature_dim(PEER_NAMES[m]) for m in present}
        levels = [FeatureLevel("pooled", pooled, description="the backbone's pooled feature")]
        if self.has_joint_space:
            space = self.cfg.spaces
            dim = space.vt_dim if space.kind == "shared" else space.va_dim
            levels.append(
                FeatureLevel("joint", dict.fromkeys(present, dim), shared=True, description="S_va")
            )
        return tuple(levels)

    def forward_features(
        self, visual: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Levels of every given modality ``m``: ``visual`` [B, T, 3, F, H, W], ``audio``
        [B, T, ...] and ``text`` word ids [B, T, L] (or [B, T, K, L], K narrations per clip) →
        ``m_pooled``, ``m_joint``, ``m_joint_vt`` [B, T, (K,) C] (those this model computes)."""
        given = {
            m: x for m, x in (("visual", visual), ("audio", audio), ("text", text)) if x is not None
        }
        if not given:
            raise ConfigError("give at least one of visual, audio, text")
        # every leading dimension of the word ids but the last indexes a sample
        lead = {m: x.shape[:-1] if m == "text" else x.shape[:2] for m, x in given.items()}
        clips = {PEER_NAMES[m]: x.flatten(0, len(lead[m]) - 1) for m, x in given.items()}
        embedded = self.embed_clips(**clips)
        out: dict[str, Tensor] = {}
        for m in given:
            peer = PEER_NAMES[m]
            levels = {"pooled": embedded[f"{peer}_pooled"]}
            if self.has_joint_space and f"{peer}_va" in embedded:
                levels["joint"] = embedded[f"{peer}_va"]
            if "text" in given and f"{peer}_vt" in embedded:
                levels["joint_vt"] = embedded[f"{peer}_vt"]
            out.update({f"{m}_{level}": x.unflatten(0, lead[m]) for level, x in levels.items()})
        return out

    def embed_clips(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """One sample per clip: :meth:`encode_clips` plus the joint-space embeddings
        (``video_va``, ``video_vt``, ``audio_va``, ``text_vt``, those computable) and, with a
        classifier, ``logits`` [N, num_classes]."""
        out = self.encode_clips(video, audio, text)
        if self.spaces is not None:
            out.update(self.spaces(*(out.get(f"{m}_pooled") for m in MODALITIES)))
        pooled = out.get(f"{self.classified}_pooled")
        if self.head is not None and pooled is not None:
            out["logits"] = self.head(pooled)
        return out

    @property
    def classified(self) -> str:
        """The modality the classifier reads (peer name): video, else audio."""
        return classified_modality(self.cfg.modalities)

    def make_classifier(self, num_classes: int) -> nn.Module | None:
        """A fresh classifier (dropout, linear) on the pooled feature of :attr:`classified`;
        ``None`` for 0 classes."""
        if not num_classes:
            return None
        return nn.Sequential(
            nn.Dropout(self.cfg.head_dropout),
            nn.Linear(self.feature_dim(self.classified), num_classes),
        )

    def get_classifier(self) -> nn.Module | None:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a fresh one for ``num_classes`` classes (0 removes it)."""
        self.cfg = replace(self.cfg, num_classes=num_classes)  # validated again
        head = self.make_classifier(num_classes)
        self.head = None if head is None else head.to(next(self.parameters()))

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        """Classifier logits [B, T, num_classes] from ``visual_pooled`` (``audio_pooled`` in an
        audio classifier)."""
        if self.head is None:
            raise ConfigError(
                f"{self.model_name or type(self).__name__} has no classifier "
                "(create it with num_classes=K)"
            )
        pooled = features[f"{CONTRACT_NAMES[self.classified]}_pooled"]
        return self.head(pooled.flatten(0, 1)).unflatten(0, pooled.shape[:2])

    def forward(self, visual: Tensor | None = None, audio: Tensor | None = None) -> Tensor:
        """Classifier logits [B, T, num_classes] of the visual clips ``[B, T, 3, F, H, W]`` (of
        the audio clips in an audio classifier)."""
        if self.classified == "audio":
            return self.forward_head(self.forward_features(audio=audio))
        return self.forward_head(self.forward_features(visual=visual))

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

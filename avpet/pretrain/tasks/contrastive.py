"""The contrastive task (VATT's and MMV's objective, usable by any model with a joint level).

``ContrastiveTask.forward`` computes one step's losses, which is what DistributedDataParallel
wraps:

    loss = va_weight · NCE(visual, audio) + vt_weight · MIL-NCE(visual, text)

on the backbone's ``joint_level`` clip features (the video-text term on ``joint_vt``), with
negatives gathered across ranks (:func:`~avpet.pretrain.contrastive.milnce_loss`). The text term
is used only when word ids are given (GRID and FSDD have none).
"""

from __future__ import annotations

from torch import Tensor, nn

from ...errors import ConfigError
from ..config import ContrastiveCfg
from ..contrastive import milnce_loss


class ContrastiveTask(nn.Module):
    """A ``backbone`` whose ``joint_level`` puts visual and audio clips in one space, with the
    NCE / MIL-NCE objective."""

    def __init__(self, backbone: nn.Module, loss: ContrastiveCfg | None = None):
        super().__init__()
        if backbone.joint_level is None:
            raise ConfigError(
                f"{getattr(backbone, 'model_name', '') or type(backbone).__name__} has no level "
                "where visual and audio share a space (joint spaces 'none'?): nothing to contrast"
            )
        self.backbone = backbone
        self.loss_cfg = loss or ContrastiveCfg()

    def forward(
        self, visual: Tensor, audio: Tensor, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Losses of one batch → ``{"loss", "nce_va"[, "milnce_vt"]}`` (scalars).

        Args:
            visual: ``[B, T, 3, F, H, W]`` sequences of clips (each clip is a sample).
            audio: ``[B, T, ...]`` the backbone's per-clip audio.
            text: word ids ``[B, T, L]`` or ``[B, T, K, L]`` (``K`` positive narrations per clip).
        """
        cfg, level = self.loss_cfg, self.backbone.joint_level
        extra = {} if text is None else {"text": text}
        feats = self.backbone.forward_features(visual=visual, audio=audio, **extra)
        visual_joint = feats[f"visual_{level}"].flatten(0, 1)
        losses = {
            "nce_va": milnce_loss(
                visual_joint, feats[f"audio_{level}"].flatten(0, 1), cfg.temperature
            )
        }
        total = cfg.va_weight * losses["nce_va"]
        if text is not None:
            if "text_joint_vt" not in feats:
                raise ConfigError("word ids given, but this backbone has no video-text space")
            losses["milnce_vt"] = milnce_loss(
                feats["visual_joint_vt"].flatten(0, 1),
                feats["text_joint_vt"].flatten(0, 1),  # [N, D] or [N, K, D]
                cfg.temperature,
            )
            total = total + cfg.vt_weight * losses["milnce_vt"]
        return {"loss": total, **losses}

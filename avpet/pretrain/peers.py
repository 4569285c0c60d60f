"""Contrastive pretraining of the peers (VATT, MMV): a backbone plus its NCE / MIL-NCE objective.

``PeerPretrainer.forward`` computes one step's losses, which is what DistributedDataParallel
wraps (as :class:`~avpet.pretrain.wrapper.AVBertPretrainer` does for AVBERT):

    loss = va_weight · NCE(video_va, audio_va) + vt_weight · MIL-NCE(video_vt, text_vt)

with negatives gathered across ranks (:func:`~avpet.pretrain.contrastive.milnce_loss`). The text
term is used only when word ids are given (GRID and FSDD have none).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import ConfigError
from .config import PeerLossCfg
from .contrastive import milnce_loss


class PeerPretrainer(nn.Module):
    """A VATT or MMV ``backbone`` (joint spaces required) with its contrastive objective."""

    def __init__(self, backbone: nn.Module, loss: PeerLossCfg | None = None):
        super().__init__()
        if getattr(backbone, "spaces", None) is None:
            raise ConfigError(
                f"{getattr(backbone, 'model_name', type(backbone).__name__)} has no joint-space "
                "heads to pretrain (spaces kind 'none')"
            )
        self.backbone = backbone
        self.loss_cfg = loss or PeerLossCfg()

    def forward(
        self, visual: Tensor, audio: Tensor, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Losses of one batch → ``{"loss", "nce_va"[, "milnce_vt"]}`` (scalars).

        Args:
            visual: ``[N, 3, F, H, W]``, or ``[B, T, 3, F, H, W]`` whose ``B·T`` clips become
                separate samples (the AVBERT data layout).
            audio: the backbone's per-clip audio (MMV: log-mel ``[1, M, L]``; VATT: waveform
                ``[S]``) with the same leading dimensions as ``visual``.
            text: word ids ``[N, L]`` or ``[N, K, L]`` (``K`` positive narrations per clip).
        """
        if visual.dim() == 6:
            visual, audio = visual.flatten(0, 1), audio.flatten(0, 1)
        n, cfg = visual.shape[0], self.loss_cfg
        if audio.shape[0] != n or (text is not None and text.shape[0] != n):
            raise ConfigError(
                f"visual, audio and text must hold the same number of clips, got {n}, "
                f"{audio.shape[0]}, {None if text is None else text.shape[0]}"
            )
        positives = 1 if text is None or text.dim() == 2 else text.shape[1]
        out = self.backbone(
            video=visual,
            audio=audio,
            text=None if text is None else text.reshape(-1, text.shape[-1]),
        )
        losses = {"nce_va": milnce_loss(out["video_va"], out["audio_va"], cfg.temperature)}
        total = cfg.va_weight * losses["nce_va"]
        if text is not None:
            text_vt = out["text_vt"].unflatten(0, (n, positives))
            losses["milnce_vt"] = milnce_loss(out["video_vt"], text_vt, cfg.temperature)
            total = total + cfg.vt_weight * losses["milnce_vt"]
        return {"loss": total, **losses}

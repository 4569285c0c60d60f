"""The AVBERT task: an AVBERT backbone plus everything only its pretraining needs.

The MEP critics, the CPP head and the mask tokens live here, not in the backbone, so the backbone
keeps the parameter counts of docs/models.md and exports alone. One ``forward`` runs one training
step's computation, which is what DistributedDataParallel wraps:

1. ``backbone.embed``: CNN features x [B, T, C_m] and tokens [B, T, D] per modality;
2. CPP pairing: with chance ``cpp.mismatch_prob`` a sequence gets another sequence's audio;
3. MEP masking: a few positions per sequence and modality are corrupted (mask token, random token,
   or unchanged);
4. ``backbone.encode``; at each configured level (the ``unimodal`` / ``multimodal`` clip outputs
   the backbone names) each masked output õ_t is scored against the pool of embeddings x
   (``mep.target``: projected tokens or raw CNN features, before masking) gathered from every
   rank, InfoNCE over the positive x_t and the sampler's negatives;
5. CPP on the last stage's ``[y_BOS_v ; y_BOS_a]``;
6. with ``avc.weight > 0``, the audio-visual clip contrast: each modality's uncorrupted tokens
   encoded alone (as the evaluation does) and every clip's visual feature contrasted with the
   audio features of the batch's clips (:func:`avpet.pretrain.contrastive.milnce_loss`).

Loss = ``mep.weight * mean(MEP terms) + cpp.weight * CPP + avc.weight * AVC``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...errors import ConfigError
from ..config import AVCCfg, CPPCfg, MEPCfg, NegativesCfg
from ..contrastive import milnce_loss
from ..distributed import gather_with_grad, rank
from ..masking import choose_masked, corrupt
from ..negatives import select_negatives
from ..objectives import CPPHead, MEPHead, cpp_loss, mep_loss, mismatch_pairs

MODALITIES = ("visual", "audio")


class AVBertPretrainer(nn.Module):
    """``backbone`` (an :class:`avpet.models.avbert.AVBert`) with the MEP and CPP heads and the
    optional AVC term."""

    def __init__(
        self,
        backbone: nn.Module,
        mep: MEPCfg,
        cpp: CPPCfg,
        negatives: NegativesCfg,
        avc: AVCCfg | None = None,
    ):
        super().__init__()
        if not all(hasattr(backbone, stage) for stage in ("embed", "encode")):
            raise ConfigError(
                f"the avbert task needs a backbone with CNN tokens and Transformers "
                f"(embed / encode), not {type(backbone).__name__}; use task.name=contrastive"
            )
        self.backbone = backbone
        self.mep_cfg, self.cpp_cfg, self.negatives_cfg = mep, cpp, negatives
        self.avc_cfg = avc or AVCCfg()
        dim = backbone.cfg.transformer.dim
        eps = backbone.cfg.transformer.eps
        embed_dims = {
            "visual": backbone.visual_cnn.num_features if mep.target == "cnn" else dim,
            "audio": backbone.audio_cnn.num_features if mep.target == "cnn" else dim,
        }
        self.mask_tokens = nn.Parameter(torch.randn(len(MODALITIES), dim) * 0.02)
        self.mep_heads = nn.ModuleDict(
            {
                f"{level}_{m}": MEPHead(dim, embed_dims[m], eps)
                for level in mep.levels
                for m in MODALITIES
            }
        )
        self.cpp_head = CPPHead(dim, eps)

    def forward(self, visual: Tensor, audio: Tensor) -> dict[str, Tensor]:
        """Losses of one batch: visual [B, T, 3, F, H, W] and audio [B, T, 1, M, L] →
        ``{"loss", "mep", "cpp", "mep_<level>_<modality>"...}`` (scalars)."""
        feats = self.backbone.embed(visual=visual, audio=audio)
        b, t = feats["visual_tokens"].shape[:2]
        source, matched = mismatch_pairs(b, self.cpp_cfg.mismatch_prob)
        sources = {"visual": torch.arange(b), "audio": source}
        masked = {m: choose_masked(b, t, self.mep_cfg.mask_ratio) for m in MODALITIES}
        inputs = {
            m: corrupt(
                feats[f"{m}_tokens"][sources[m].to(visual.device)],
                masked[m],
                self.mask_tokens[i],
                self.mep_cfg.replace_probs,
            )
            for i, m in enumerate(MODALITIES)
        }
        out = self.backbone.encode(visual_tokens=inputs["visual"], audio_tokens=inputs["audio"])
        losses = {}
        for m in MODALITIES:
            target = feats[f"{m}_{self.mep_cfg.target}"]
            losses.update(self._mep(m, target, out, sources[m], masked[m]))
        mep = torch.stack(list(losses.values())).mean()
        cpp = cpp_loss(self.cpp_head(out["visual_bos"], out["audio_bos"]), matched.to(mep.device))
        loss = self.mep_cfg.weight * mep + self.cpp_cfg.weight * cpp
        if self.avc_cfg.weight:
            avc = milnce_loss(
                self._alone("visual", feats).flatten(0, 1),
                self._alone("audio", feats).flatten(0, 1),
                self.avc_cfg.temperature,
            )
            loss = loss + self.avc_cfg.weight * avc
            losses["avc"] = avc.detach()
        losses.update(loss=loss, mep=mep.detach(), cpp=cpp)
        return losses

    def _alone(self, modality: str, feats: dict[str, Tensor]) -> Tensor:
        """Clip features [B, T, D] of ``modality``'s uncorrupted tokens encoded alone, at
        ``avc.level``."""
        tokens = feats[f"{modality}_tokens"]
        level = self.avc_cfg.level
        if level == "tokens":
            return tokens
        if level == "auto":
            level = self.backbone.default_level
        return self._level(self.backbone.encode(**{f"{modality}_tokens": tokens}), level, modality)

    def _mep(
        self, modality: str, target: Tensor, out: dict[str, Tensor], source: Tensor, masked: Tensor
    ) -> dict[str, Tensor]:
        """MEP terms of one modality: ``target`` [B, T, C] local embeddings x, ``source`` [B] whose
        embeddings each sequence was given, ``masked`` bool [B, T]."""
        b, t, _ = target.shape
        pool = gather_with_grad(target.flatten(0, 1))  # [world * B * T, C], rank-major
        offset = rank() * b
        sequence = torch.arange(pool.shape[0] // t, device=pool.device).repeat_interleave(t)
        positive_all = (offset + source)[:, None] * t + torch.arange(t)  # [B, T]
        positive = positive_all[masked].to(pool.device)
        negatives = select_negatives(pool.detach(), positive, sequence, self.negatives_cfg)
        terms = {}
        for level in self.mep_cfg.levels:
            outputs = self._level(out, level, modality)[masked.to(pool.device)]
            scores = self.mep_heads[f"{level}_{modality}"](outputs, pool)
            terms[f"mep_{level}_{modality}"] = mep_loss(scores, positive, negatives)
        return terms

    def _level(self, out: dict[str, Tensor], level: str, modality: str) -> Tensor:
        """The backbone's clip outputs [B, T, D] of ``modality`` at ``level``, or a ConfigError
        when its fusion has no such Transformer."""
        if f"{modality}_{level}" not in out:
            raise ConfigError(
                f"the {level!r} level is asked for but this backbone ({self.backbone.cfg.fusion} "
                f"fusion) has no {level} Transformer; use the other level"
            )
        return out[f"{modality}_{level}"]

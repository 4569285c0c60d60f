"""AVBERT's pretraining objectives: masked embedding prediction (MEP) and correct pair
prediction (CPP), as heads and losses (docs/pretraining.md).

MEP scores a Transformer output õ against a CNN embedding x with the bilinear critic
``log I(x, õ) = FFN(õ)ᵀ W x`` and, for each masked position, takes the InfoNCE loss of the positive
x_t against the negatives a sampler (:mod:`avpet.pretrain.negatives`) picked. CPP is a binary
classifier on ``[y_BOS_v ; y_BOS_a]``: do the visual and audio streams come from the same video?
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MEPHead(nn.Module):
    """Critic ``log I(x, õ) = FFN(õ)ᵀ W x`` between outputs õ [.., D] and embeddings x [.., C].

    FFN is BERT's prediction transform (Linear, GELU, LayerNorm); W is a bias-free [D, C] map,
    stored as ``√D · W`` (``critic``) so that, with FFN(õ) layer-normalised (norm ≈ √D), initial
    scores are O(1) as in scaled dot-product attention; the function class is the paper's.
    """

    def __init__(self, dim: int, embed_dim: int, eps: float = 1e-12):
        super().__init__()
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim, eps=eps))
        self.critic = nn.Linear(embed_dim, dim, bias=False)
        self.scale = dim**-0.5

    def forward(self, outputs: Tensor, embeddings: Tensor) -> Tensor:
        """Scores ``log I`` of every output [N, D] against every embedding [P, C] → [N, P]."""
        return self.scale * self.ffn(outputs) @ self.critic(embeddings).transpose(0, 1)


def mep_loss(scores: Tensor, positive: Tensor, negatives: Tensor) -> Tensor:
    """InfoNCE over chosen candidates, averaged over anchors.

    ``-log( e^{s[n, positive[n]]} / (e^{s[n, positive[n]]} + Σ_{p: negatives[n, p]} e^{s[n, p]}) )``

    Args:
        scores: critic scores [N, P].
        positive: the positive's column per row [N].
        negatives: bool [N, P], the negatives of each row (never its positive).
    """
    used = negatives.clone()
    used[torch.arange(scores.shape[0], device=scores.device), positive] = True
    logits = scores.float().masked_fill(~used, -torch.inf)
    return F.cross_entropy(logits, positive)


class CPPHead(nn.Module):
    """Two-layer MLP ``[y_BOS_v ; y_BOS_a]`` [B, 2D] → one logit [B] (same video or not)."""

    def __init__(self, dim: int, eps: float = 1e-12):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, dim), nn.GELU(), nn.LayerNorm(dim, eps=eps), nn.Linear(dim, 1)
        )

    def forward(self, visual_bos: Tensor, audio_bos: Tensor) -> Tensor:
        """BOS summaries [B, D] each → logits [B]."""
        return self.mlp(torch.cat([visual_bos, audio_bos], dim=-1)).squeeze(-1)


def cpp_loss(logits: Tensor, matched: Tensor) -> Tensor:
    """Binary cross-entropy of pair logits [B] against ``matched`` (bool [B]), averaged."""
    return F.binary_cross_entropy_with_logits(logits.float(), matched.float())


def mismatch_pairs(
    batch: int, prob: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Which audio each sequence is paired with for CPP.

    Each of ``batch`` sequences keeps its own audio, or with chance ``prob`` takes the audio of
    another sequence of the batch (a uniformly drawn other index).

    Returns:
        ``source`` long [B] (index of the audio used by each sequence) and ``matched`` bool [B].
    """
    index = torch.arange(batch)
    swap = torch.rand(batch, generator=generator) < prob
    shift = torch.randint(1, batch, (batch,), generator=generator)
    source = torch.where(swap, (index + shift) % batch, index)
    return source, ~swap

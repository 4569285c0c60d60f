"""Post-LN (BERT/ALBERT-style) Transformer block and an encoder that may reuse its blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .attention import LinearFactory, SelfAttention


class PostNormBlock(nn.Module):
    """``a = LN(x + Drop(Attn(x)))``, ``y = LN(a + W_out GELU(W_in a))`` (no dropout on the FFN)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        make_linear: LinearFactory,
        attn_dropout: float = 0.1,
        dropout: float = 0.1,
        eps: float = 1e-12,
    ):
        super().__init__()
        self.attn = SelfAttention(dim, heads, make_linear, attn_dropout)
        self.attn_drop = nn.Dropout(dropout)
        self.attn_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn_in = make_linear(dim, mlp_dim)
        self.ffn_out = make_linear(mlp_dim, dim)
        self.ffn_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor, modality: int, key_mask: Tensor | None = None) -> Tensor:
        """``x`` [B, N, D] → [B, N, D] through modality ``modality``'s private weights."""
        x = self.attn_norm(x + self.attn_drop(self.attn(x, modality, key_mask)))
        return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x, modality)), modality))


class Encoder(nn.Module):
    """``depth`` block applications cycling through ``blocks`` (one block = cross-layer sharing).

    With ``grad_checkpointing`` set, each application's activations are recomputed in the
    backward pass instead of stored (for long sequences). Re-entrant checkpointing is used because
    the recomputation runs outside the forward's ``parametrize.cached()`` and recomputes the
    rotations it needs, which non-reentrant checkpointing rejects as a changed graph.
    """

    def __init__(self, blocks: list[nn.Module], depth: int):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.depth = depth
        self.grad_checkpointing = False

    def forward(self, x: Tensor, modality: int, key_mask: Tensor | None = None) -> Tensor:
        for i in range(self.depth):
            block = self.blocks[i % len(self.blocks)]
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, modality, key_mask, use_reentrant=True)
            else:
                x = block(x, modality, key_mask)
        return x

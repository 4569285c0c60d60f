"""Multi-head self-attention over modality-aware linear maps, computed with SDPA."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

LinearFactory = Callable[[int, int], nn.Module]
"""``make(in_features, out_features)`` → a module called as ``linear(x, modality)``."""


class DenseLinear(nn.Linear):
    """``nn.Linear`` with the modality-aware call signature; the modality is ignored."""

    def forward(self, x: Tensor, modality: int = 0) -> Tensor:  # noqa: ARG002
        return super().forward(x)


class SelfAttention(nn.Module):
    """``Wo · MHA(Wq x, Wk x, Wv x)`` with ``heads`` heads through
    :func:`torch.nn.functional.scaled_dot_product_attention`."""

    def __init__(self, dim: int, heads: int, make_linear: LinearFactory, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.query = make_linear(dim, dim)
        self.key = make_linear(dim, dim)
        self.value = make_linear(dim, dim)
        self.out = make_linear(dim, dim)

    def forward(self, x: Tensor, modality: int, key_mask: Tensor | None = None) -> Tensor:
        """``x`` [B, N, D] → [B, N, D]; ``key_mask`` [B, N] is True where attending is allowed."""
        q, k, v = (
            rearrange(proj(x, modality), "b n (h d) -> b h n d", h=self.heads)
            for proj in (self.query, self.key, self.value)
        )
        mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(rearrange(y, "b h n d -> b n (h d)"), modality)

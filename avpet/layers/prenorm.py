"""Pre-LN Transformer encoder (VATT, T5): ``x + Drop(Attn(N(x)))``, ``x + Drop(FFN(N(x)))``."""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .drop_path import DropPath


class PreNormAttention(nn.Module):
    """Multi-head self-attention with ``heads × head_dim`` inner width, optional additive bias.

    ``scaled=False`` drops the ``1/sqrt(head_dim)`` factor (T5 folds it into the weights).
    """

    def __init__(
        self, dim: int, heads: int, head_dim: int, bias: bool, dropout: float, scaled: bool
    ):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.dropout = dropout
        self.scale = None if scaled else 1.0
        self.qkv = nn.Linear(dim, 3 * inner, bias=bias)
        self.out = nn.Linear(inner, dim, bias=bias)

    def forward(self, x: Tensor, attn_bias: Tensor | None = None) -> Tensor:
        """``x`` [B, N, D]; ``attn_bias`` float [B or 1, H or 1, N, N] added to the scores."""
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_bias,
            dropout_p=self.dropout if self.training else 0.0,
            scale=self.scale,
        )
        return self.out(rearrange(y, "b h n d -> b n (h d)"))


class PreNormBlock(nn.Module):
    """One pre-LN block; ``rms_attn_norm`` selects T5's scale-only RMS norm before attention."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        mlp_dim: int,
        dropout: float = 0.1,
        bias: bool = True,
        eps: float = 1e-6,
        rms_attn_norm: bool = False,
        scaled: bool = True,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.attn_norm = nn.RMSNorm(dim, eps=eps) if rms_attn_norm else nn.LayerNorm(dim, eps=eps)
        self.attn = PreNormAttention(dim, heads, head_dim, bias, dropout, scaled)
        self.ffn_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn = nn.Sequential(
            nn.Linear(dim, mlp_dim, bias=bias),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim, bias=bias),
        )
        self.drop = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor, attn_bias: Tensor | None = None) -> Tensor:
        """``x`` [B, N, D] → [B, N, D]."""
        x = x + self.drop_path(self.drop(self.attn(self.attn_norm(x), attn_bias)))
        return x + self.drop_path(self.drop(self.ffn(self.ffn_norm(x))))


class PreNormEncoder(nn.Module):
    """``depth`` pre-LN blocks, then a final norm and dropout."""

    def __init__(self, blocks: list[PreNormBlock], final_norm: nn.Module, dropout: float = 0.1):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.norm = final_norm
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, attn_bias: Tensor | None = None) -> Tensor:
        """``x`` [B, N, D] → [B, N, D]; the same ``attn_bias`` is used by every block."""
        for block in self.blocks:
            x = block(x, attn_bias)
        return self.drop(self.norm(x))

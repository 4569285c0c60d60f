"""Projections of CNN features to the model width and position/type embeddings."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Projection(nn.Module):
    """``Linear(in, D)`` then ``LayerNorm``: CNN features ``[..., in]`` → tokens ``[..., D]``."""

    def __init__(self, in_features: int, dim: int, eps: float = 1e-12):
        super().__init__()
        self.fc = nn.Linear(in_features, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.fc(x))


class SequenceEmbedding(nn.Module):
    """Adds learned position (and token-type) embeddings, then LayerNorm and dropout."""

    def __init__(
        self,
        dim: int,
        max_positions: int,
        num_types: int = 0,
        eps: float = 1e-12,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.position = nn.Embedding(max_positions, dim)
        self.token_type = nn.Embedding(num_types, dim) if num_types else None
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, positions: Tensor, types: Tensor | None = None) -> Tensor:
        """``x`` [B, N, D], ``positions``/``types`` [N] integer ids → [B, N, D]."""
        x = x + self.position(positions)
        if self.token_type is not None:
            x = x + self.token_type(torch.zeros_like(positions) if types is None else types)
        return self.drop(self.norm(x))

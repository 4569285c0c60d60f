"""Stochastic depth: drop a residual branch per sample while training (Huang et al., 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DropPath(nn.Module):
    """Zero the branch ``x`` [B, ...] of a random ``rate`` of the samples and scale the others by
    ``1 / (1 - rate)``; the identity in eval mode or at rate 0."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype)
        return x * mask.bernoulli_(keep) / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate}"

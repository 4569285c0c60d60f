"""DropToken (VATT): keep a random subset of tokens at train time to cut attention cost."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DropToken(nn.Module):
    """Keep ``keep`` random tokens per sample while training (all tokens at eval time).

    ``keep`` is computed once from the configured maximum token count (VATT: 50 % of 1568 video
    tokens = 784, of 1200 audio tokens = 600), so a shorter input keeps all of its tokens.
    Each sample draws its own subset; the kept tokens stay in their original order.
    """

    def __init__(self, keep: int):
        super().__init__()
        self.keep = keep

    def forward(self, x: Tensor) -> Tensor:
        """``x`` [B, N, D] → [B, min(N, keep), D] in training, unchanged in eval."""
        if not self.training or x.shape[1] <= self.keep:
            return x
        scores = torch.rand(x.shape[:2], device=x.device)
        index = scores.topk(self.keep, dim=1).indices.sort(dim=1).values
        return x.gather(1, index[..., None].expand(-1, -1, x.shape[2]))

    def extra_repr(self) -> str:
        return f"keep={self.keep}"

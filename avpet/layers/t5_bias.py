"""T5 relative position bias: a learned per-head scalar for each bucket of key - query offset."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def relative_position_bucket(
    offset: Tensor, num_buckets: int = 32, max_distance: int = 64
) -> Tensor:
    """Bidirectional T5 buckets of ``offset = key_pos - query_pos`` (any integer shape).

    Half the buckets are for keys before the query, half for keys after; within each half the
    first ``n/4`` distances get a bucket each and the rest share log-spaced buckets up to
    ``max_distance`` (farther offsets fall in the last bucket).
    """
    half = num_buckets // 2
    bucket = (offset > 0).long() * half
    distance = offset.abs()
    exact = half // 2
    log_ratio = torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
    far = exact + (log_ratio * (half - exact)).long()
    far = far.clamp(max=half - 1)
    return bucket + torch.where(distance < exact, distance, far)


class RelativePositionBias(nn.Module):
    """Additive attention bias ``[1, heads, Q, K]`` from T5 relative-position buckets."""

    def __init__(self, heads: int, num_buckets: int = 32, max_distance: int = 64):
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bias = nn.Embedding(num_buckets, heads)

    def forward(self, q_len: int, k_len: int) -> Tensor:
        device = self.bias.weight.device
        offset = (
            torch.arange(k_len, device=device)[None, :]
            - torch.arange(q_len, device=device)[:, None]
        )
        buckets = relative_position_bucket(offset, self.num_buckets, self.max_distance)
        return self.bias(buckets).permute(2, 0, 1).unsqueeze(0)

"""Which Transformer inputs MEP hides, and what it puts in their place."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def choose_masked(
    batch: int, length: int, ratio: float, generator: torch.Generator | None = None
) -> Tensor:
    """bool [B, T]: exactly ``max(1, round(ratio * T))`` positions per sequence, uniformly."""
    count = max(1, min(length, math.floor(ratio * length + 0.5)))
    order = torch.rand(batch, length, generator=generator).argsort(dim=1)
    return order < count


def corrupt(
    tokens: Tensor,
    masked: Tensor,
    mask_token: Tensor,
    replace_probs: tuple[float, float, float],
    generator: torch.Generator | None = None,
) -> Tensor:
    """Replace masked tokens the BERT way.

    Args:
        tokens: Transformer inputs [B, T, D].
        masked: bool [B, T], the positions MEP predicts.
        mask_token: learned replacement [D].
        replace_probs: chances (mask token, random token of the batch, unchanged).

    Returns:
        [B, T, D], ``tokens`` with each masked position replaced by ``mask_token`` or by a token
        drawn uniformly from the whole batch, or left as it was.
    """
    b, t, _ = tokens.shape
    draw = torch.rand(b, t, generator=generator)
    p_mask, p_random, _ = replace_probs
    use_mask = (masked & (draw < p_mask)).to(tokens.device)
    use_random = (masked & (draw >= p_mask) & (draw < p_mask + p_random)).to(tokens.device)
    donor = torch.randint(b * t, (b, t), generator=generator).to(tokens.device)
    random_tokens = tokens.reshape(b * t, -1)[donor]
    out = torch.where(use_random[..., None], random_tokens, tokens)
    return torch.where(use_mask[..., None], mask_token.to(tokens.dtype), out)

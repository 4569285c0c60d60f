"""NCE and MIL-NCE between modality embeddings, with negatives gathered across ranks.

The objective of VATT and MMV: for anchor ``x_i`` with ``K`` positives ``y_i1..y_iK`` (``K = 1``
is NCE, ``K > 1`` is MIL-NCE, e.g. the 5 narrations around a clip), cosine similarities
``s(a, b) = <a/|a|, b/|b|> / τ`` and

    loss_i = log Σ_{j, k} [exp s(x_i, y_jk) + exp s(x_j, y_ik)] - log Σ_k exp s(x_i, y_ik)

where ``j`` runs over the whole global batch (every rank's samples) and the denominator holds the
scores of both directions (x→y and y→x), as in MMV and VATT. The loss is the mean over the local
anchors. Other ranks' samples enter as constants (``distributed.gather_with_grad``); without a
process group (or with one rank) the batch is the local one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from .distributed import gather_with_grad

TEMPERATURE = 0.07


def milnce_loss(anchors: Tensor, positives: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """NCE (``K = 1``) or MIL-NCE (``K > 1``) loss, mean over the local anchors.

    Args:
        anchors: ``[B, D]`` embeddings of one modality (e.g. video in S_vt).
        positives: ``[B, D]`` or ``[B, K, D]`` embeddings of the other modality; row ``i`` holds
            the ``K`` positives of anchor ``i`` (e.g. text of 5 narrations).
        temperature: τ of the softmax (0.07 in MMV and VATT).

    Returns:
        A scalar loss. Negatives are every other sample of the global batch in both directions.
    """
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    if positives.dim() == 2:
        positives = positives.unsqueeze(1)
    if anchors.dim() != 2 or positives.dim() != 3 or positives.shape[0] != anchors.shape[0]:
        raise ConfigError(
            f"expected anchors [B, D] and positives [B, K, D] or [B, D], got "
            f"{tuple(anchors.shape)} and {tuple(positives.shape)}"
        )
    x = F.normalize(anchors, dim=-1)
    y = F.normalize(positives, dim=-1)
    x_all, y_all = gather_with_grad(x), gather_with_grad(y)
    pos = torch.einsum("bd,bkd->bk", x, y) / temperature  # [B, K]
    x_to_all = torch.einsum("bd,jkd->bjk", x, y_all).flatten(1) / temperature  # [B, W·B·K]
    all_to_y = torch.einsum("jd,bkd->bjk", x_all, y).flatten(1) / temperature  # [B, W·B·K]
    denominator = torch.logsumexp(torch.cat([x_to_all, all_to_y], dim=1), dim=1)
    return (denominator - torch.logsumexp(pos, dim=1)).mean()

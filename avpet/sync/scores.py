"""Offset scores: how well each visual clip matches the audio ``k`` frames later, for every ``k``
in ``-search..search``, and the offset, confidence and sync score read from them.

The curve of a span is the mean, over its visual clips, of the cosine similarity between clip
``t`` and audio window ``t + k``. The offset is the curve's argmax; the confidence, as SyncNet's,
how far that peak stands above the curve's median; the sync score, the curve at ``k = 0`` (the
mean similarity of the file as it is): high when the file is in sync. (Chosen on the sync model's
validation clips over the score at 0 minus the median, a z-score and a margin over the other
offsets: it separates genuine pairs from swapped and shifted audio best, docs/sync.md.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .reader import SyncEmbeddings


def clip_scores(embeddings: SyncEmbeddings) -> torch.Tensor:
    """``[M, 2 * search + 1]``: similarity of visual clip ``t`` with the audio ``k`` frames later
    (column ``k + search``)."""
    visual, audio, count = embeddings.visual, embeddings.audio, embeddings.num_clips
    # one offset at a time, never an [M, D, 2 * search + 1] tensor (0.5 GB for 10 min at 25 fps)
    columns = [(visual * audio[k : k + count]).sum(-1) for k in range(2 * embeddings.search + 1)]
    return torch.stack(columns, dim=1)


@dataclass(frozen=True)
class Estimate:
    """What the curve of one span says: ``offset`` in frames (positive: the sound comes after
    the picture), ``confidence`` (peak minus median), ``sync_score`` (the curve at 0) and the
    ``curve`` itself over offsets ``-search..search``."""

    offset: int
    confidence: float
    sync_score: float
    curve: torch.Tensor


def estimate(scores: torch.Tensor) -> Estimate:
    """Read a span's rows of :func:`clip_scores` ``[m, 2 * search + 1]``."""
    curve = scores.mean(0)
    search = (curve.numel() - 1) // 2
    median = curve.median()
    return Estimate(
        offset=int(curve.argmax()) - search,
        confidence=float(curve.max() - median),
        sync_score=float(curve[search]),
        curve=curve,
    )

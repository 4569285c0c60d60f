"""The sync objective: InfoNCE in which the negatives of a visual clip are its own video's audio
shifted in time (and the other videos' audio of the batch), so that the embedding must say *when*
the sound goes with the picture, not only *what* sound it is.

A batch holds ``B`` spans of ``L`` consecutive visual clips and, for each, the ``L + 2 * search``
audio windows from ``search`` frames before the span to ``search`` frames after it; visual clip
``i`` of span ``b`` goes with audio window ``i + search`` of span ``b``. Windows ``ignore`` frames
or fewer away from the positive are left out of the softmax (GRID's recordings are in sync only
to within one frame).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shifted_nce(
    visual: torch.Tensor, audio: torch.Tensor, search: int, ignore: int, temperature: float
) -> torch.Tensor:
    """Symmetric InfoNCE of ``visual`` ``[B, L, D]`` against ``audio`` ``[B, L + 2 * search, D]``
    (both L2-normalised): each visual clip picks its aligned window among all windows of the
    batch, each aligned window its clip among all clips."""
    b, length, _ = visual.shape
    windows = audio.shape[1]
    logits = visual.flatten(0, 1) @ audio.flatten(0, 1).T / temperature  # [B L, B W]
    clip = torch.arange(length)
    shift = torch.arange(windows)[None, :] - (clip[:, None] + search)  # [L, W]
    near = (shift.abs() <= ignore) & (shift != 0)
    same = torch.eye(b, dtype=torch.bool)
    excluded = (same[:, None, :, None] & near[None, :, None, :]).reshape(b * length, b * windows)
    logits = logits.masked_fill(excluded, float("-inf"))
    target_v = (torch.arange(b)[:, None] * windows + clip[None, :] + search).flatten()
    v2a = F.cross_entropy(logits, target_v)
    aligned = logits[:, target_v]  # [B L (clips), B L (aligned windows)]
    a2v = F.cross_entropy(aligned.T, torch.arange(b * length))
    return (v2a + a2v) / 2

"""Temporal shift (TSM, Lin et al. 2019): mix neighbouring frames by moving channels."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TemporalShift(nn.Module):
    """Shift ``1/fold_div`` of the channels one frame back and another ``1/fold_div`` forward.

    Input ``[N·T, C, H, W]`` with ``T = frames`` consecutive frames per clip; vacated slots are
    zero. ``frames = 0`` turns the shift off (the deflated, per-image network).
    """

    def __init__(self, frames: int, fold_div: int = 8):
        super().__init__()
        self.frames = frames
        self.fold_div = fold_div

    def forward(self, x: Tensor) -> Tensor:
        if self.frames == 0:
            return x
        x = x.unflatten(0, (-1, self.frames))  # [N, T, C, H, W]
        fold = x.shape[2] // self.fold_div
        out = torch.zeros_like(x)
        out[:, :-1, :fold] = x[:, 1:, :fold]
        out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
        out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
        return out.flatten(0, 1)

    def extra_repr(self) -> str:
        return f"frames={self.frames}, fold_div={self.fold_div}"


def rotating_shift(x: Tensor, frames: int, fraction: float = 0.125) -> Tensor:
    """MMV's temporal shift (deepmind-research ``mmv/models/tsm_utils.py``, GPU mode): of
    ``[N·T, C, H, W]``, the last ``n = int(C · fraction)`` channels of the next frame move to the
    front and the first ``n`` of the previous frame to the back (zeros past the clip's ends); the
    middle channels stay. Unlike :class:`TemporalShift`, the two groups swap places."""
    n = int(x.shape[1] * fraction)
    x = x.unflatten(0, (-1, frames))  # [N, T, C, H, W]
    zeros = x.new_zeros(x.shape[0], 1, n, *x.shape[3:])
    backward = torch.cat([x[:, 1:, x.shape[2] - n :], zeros], dim=1)
    forward = torch.cat([zeros, x[:, :-1, :n]], dim=1)
    return torch.cat([backward, x[:, :, n : x.shape[2] - n], forward], dim=2).flatten(0, 1)

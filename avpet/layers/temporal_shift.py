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

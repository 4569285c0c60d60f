"""S3D-G (Xie et al., 2018): separable 3D Inception network with feature gating (MMV's video net).

Every 3D convolution ``k×k×k`` is factorized into a spatial ``1×k×k`` and a temporal ``k×1×1``
convolution (each with BN + ReLU); each Inception branch ends with self-gating
``x · σ(W · mean_{t,h,w}(x))``. With ``temporal=False`` every temporal kernel and stride becomes
1: the same network applied to single images (what MMV's deflation produces).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError

# Inception blocks: (1×1, 3×3 reduce, 3×3, 3×3 reduce, 3×3, pool proj) channels, as in I3D/S3D-G.
INCEPTION: dict[str, tuple[int, int, int, int, int, int]] = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}
POOL_BEFORE = {
    "mixed_3b": (1, 3, 3, 1, 2, 2),
    "mixed_4b": (3, 3, 3, 2, 2, 2),
    "mixed_5b": (2, 2, 2, 2, 2, 2),
}


@dataclass(frozen=True)
class S3DCfg:
    """``width`` scales every channel count (1.0 = S3D-G, 1024 output features)."""

    width: float = 1.0
    gating: bool = True
    temporal: bool = True

    def __post_init__(self):
        if self.width <= 0:
            raise ConfigError(f"S3DCfg.width must be positive, got {self.width}")

    def channels(self, c: int) -> int:
        return max(1, round(c * self.width))

    @property
    def num_features(self) -> int:
        return sum(
            self.channels(c) for i, c in enumerate(INCEPTION["mixed_5c"]) if i in (0, 2, 4, 5)
        )


def _unit(
    cin: int, cout: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]
) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel)
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, stride, padding, bias=False),
        nn.BatchNorm3d(cout, eps=1e-3),
        nn.ReLU(inplace=True),
    )


class SepConv3d(nn.Sequential):
    """``1×k×k`` (spatial stride) then ``k×1×1`` (temporal stride); ``1×1×1`` in 2D mode."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, temporal: bool):
        kt, st = (k, stride) if temporal else (1, 1)
        super().__init__(
            _unit(cin, cout, (1, k, k), (1, stride, stride)),
            _unit(cout, cout, (kt, 1, 1), (st, 1, 1)),
        )


class SelfGating(nn.Module):
    """``x · sigmoid(Linear(mean over t, h, w of x))`` per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        weights = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * weights[:, :, None, None, None]


class Inception(nn.Module):
    """Four branches (1×1; 1×1 → sep 3; 1×1 → sep 3; max-pool → 1×1), gated, concatenated."""

    def __init__(self, cin: int, c: tuple[int, ...], gating: bool, temporal: bool):
        super().__init__()
        one = (1, 1, 1)
        pool_t = 3 if temporal else 1
        self.branches = nn.ModuleList(
            [
                nn.Sequential(_unit(cin, c[0], one, one)),
                nn.Sequential(_unit(cin, c[1], one, one), SepConv3d(c[1], c[2], 3, 1, temporal)),
                nn.Sequential(_unit(cin, c[3], one, one), SepConv3d(c[3], c[4], 3, 1, temporal)),
                nn.Sequential(
                    nn.MaxPool3d((pool_t, 3, 3), 1, (pool_t // 2, 1, 1)), _unit(cin, c[5], one, one)
                ),
            ]
        )
        for branch, out in zip(self.branches, (c[0], c[2], c[4], c[5]), strict=True):
            if gating:
                branch.append(SelfGating(out))
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def _pool(spec: tuple[int, ...], temporal: bool) -> nn.MaxPool3d:
    kt, kh, kw, st, sh, sw = spec
    if not temporal:
        kt, st = 1, 1
    padding = (kt // 2 if kt == 3 else 0, kh // 2 if kh == 3 else 0, kw // 2 if kw == 3 else 0)
    return nn.MaxPool3d((kt, kh, kw), (st, sh, sw), padding, ceil_mode=True)


class S3DG(nn.Module):
    """Video ``[B, 3, T, H, W]`` → pooled ``[B, num_features]`` (1024 at width 1)."""

    def __init__(self, cfg: S3DCfg):
        super().__init__()
        self.cfg = cfg
        ch, temporal = cfg.channels, cfg.temporal
        layers: list[nn.Module] = [
            SepConv3d(3, ch(64), 7, 2, temporal),
            _pool((1, 3, 3, 1, 2, 2), temporal),
            _unit(ch(64), ch(64), (1, 1, 1), (1, 1, 1)),
            SepConv3d(ch(64), ch(192), 3, 1, temporal),
        ]
        cin = ch(192)
        for name, channels in INCEPTION.items():
            if name in POOL_BEFORE:
                layers.append(_pool(POOL_BEFORE[name], temporal))
            block = Inception(cin, tuple(ch(c) for c in channels), cfg.gating, temporal)
            layers.append(block)
            cin = block.out_channels
        self.features = nn.Sequential(*layers)
        self.num_features = cin

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x).mean(dim=(2, 3, 4))

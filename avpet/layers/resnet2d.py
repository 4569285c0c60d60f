"""Standard 2D bottleneck ResNet (ResNet-50 by default), with an optional temporal shift per block.

Used by MMV for the audio network (log-mel in, 1 channel) and, with :class:`TemporalShift`
before each block's first convolution (residual shift), as the TSM-ResNet50 video network.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..errors import ConfigError
from .temporal_shift import TemporalShift


@dataclass(frozen=True)
class ResNet2dCfg:
    """Stage depths and base width (``width · 2^i · 4`` output channels per stage)."""

    layers: tuple[int, ...] = (3, 4, 6, 3)
    width: int = 64
    in_channels: int = 3
    expansion: int = 4

    def __post_init__(self):
        if not self.layers or min(self.layers) <= 0 or self.width <= 0 or self.in_channels <= 0:
            raise ConfigError(f"invalid ResNet2dCfg: {self}")

    @property
    def num_features(self) -> int:
        return self.width * 2 ** (len(self.layers) - 1) * self.expansion


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """``shift → 1×1 → 3×3 (stride) → 1×1`` plus a (projection) shortcut."""

    def __init__(self, cin: int, width: int, cout: int, stride: int, frames: int):
        super().__init__()
        self.shift = TemporalShift(frames)
        self.conv1 = _conv_bn(cin, width, 1)
        self.conv2 = _conv_bn(width, width, 3, stride)
        self.conv3 = _conv_bn(width, cout, 1, relu=False)
        self.shortcut = (
            _conv_bn(cin, cout, 1, stride, relu=False)
            if cin != cout or stride != 1
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.shortcut(x) + self.conv3(self.conv2(self.conv1(self.shift(x)))))


class ResNet2d(nn.Module):
    """``[N, C_in, H, W]`` → pooled ``[N, num_features]``; ``frames > 0`` adds temporal shifts
    over groups of ``frames`` consecutive images (TSM)."""

    def __init__(self, cfg: ResNet2dCfg, frames: int = 0):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(_conv_bn(cfg.in_channels, cfg.width, 7, 2), nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], cfg.width
        for i, depth in enumerate(cfg.layers):
            width, stride = cfg.width * 2**i, 1 if i == 0 else 2
            cout = width * cfg.expansion
            for b in range(depth):
                blocks.append(Bottleneck(cin, width, cout, stride if b == 0 else 1, frames))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.num_features = cfg.num_features

    def set_frames(self, frames: int) -> None:
        """Set the clip length of every temporal shift (0 turns them off)."""
        for module in self.modules():
            if isinstance(module, TemporalShift):
                module.frames = frames

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))

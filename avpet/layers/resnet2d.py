"""Standard 2D bottleneck ResNet (ResNet-50 by default), with an optional temporal shift per block.

Used by MMV for the audio network (log-mel in, 1 channel) and, with :class:`TemporalShift`
before each block's first convolution (residual shift), as the TSM-ResNet50 video network.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..errors import ConfigError
from .conv import Bottleneck, conv_bn
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


def shifted_bottleneck(cin: int, width: int, cout: int, stride: int, frames: int) -> Bottleneck:
    """``shift → 1×1 → 3×3 (stride) → 1×1`` plus a (projection) shortcut."""
    return Bottleneck(
        nn.Sequential(TemporalShift(frames), conv_bn(nn.Conv2d, cin, width, 1)),
        conv_bn(nn.Conv2d, width, width, 3, stride),
        conv_bn(nn.Conv2d, width, cout, 1, relu=False),
        nn.Conv2d,
        cin,
        cout,
        stride,
    )


class ResNet2d(nn.Module):
    """``[N, C_in, H, W]`` → pooled ``[N, num_features]``; ``frames > 0`` adds temporal shifts
    over groups of ``frames`` consecutive images (TSM)."""

    def __init__(self, cfg: ResNet2dCfg, frames: int = 0):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(
            conv_bn(nn.Conv2d, cfg.in_channels, cfg.width, 7, 2), nn.MaxPool2d(3, 2, 1)
        )
        blocks, cin = [], cfg.width
        for i, depth in enumerate(cfg.layers):
            width, stride = cfg.width * 2**i, 1 if i == 0 else 2
            cout = width * cfg.expansion
            for b in range(depth):
                blocks.append(shifted_bottleneck(cin, width, cout, stride if b == 0 else 1, frames))
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

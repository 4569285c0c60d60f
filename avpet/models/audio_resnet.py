"""2D ResNet over log-mel spectrograms (the audio CNN of AVBERT).

Separable stem (9×1 over frequency, then 1×9 over time), then four bottleneck stages, each
downsampling by 2; the 3×3 convolution of the early stages is factorised into 3×1 and 1×3.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import ConfigError
from ..layers.conv import Bottleneck, ResNetTrunk, bottleneck_stages, conv_bn


@dataclass(frozen=True)
class AudioResNetCfg:
    """Sizes of the audio ResNet; the defaults are the released AVBERT audio CNN."""

    layers: tuple[int, ...] = (3, 4, 6, 3)
    width: int = 32
    separable: tuple[bool, ...] = (True, True, False, False)
    stem_kernel: int = 9
    stem_stride: int = 1
    expansion: int = 4

    def __post_init__(self):
        if len(self.layers) != len(self.separable):
            raise ConfigError("AudioResNetCfg: layers and separable differ in length")

    @property
    def num_features(self) -> int:
        return self.width * 2 ** (len(self.layers) - 1) * self.expansion


def bottleneck2d(cin: int, width: int, cout: int, stride: int, separable: bool) -> Bottleneck:
    """1×1 → 3×3 (or 3×1 + 1×3) with stride → 1×1 bottleneck."""
    if separable:
        conv_b = nn.Sequential(
            conv_bn(nn.Conv2d, width, width, (3, 1), stride=(stride, 1)),
            conv_bn(nn.Conv2d, width, width, (1, 3), stride=(1, stride)),
        )
    else:
        conv_b = conv_bn(nn.Conv2d, width, width, 3, stride=stride)
    return Bottleneck(
        conv_bn(nn.Conv2d, cin, width, 1),
        conv_b,
        conv_bn(nn.Conv2d, width, cout, 1, relu=False),
        nn.Conv2d,
        cin,
        cout,
        stride,
    )


class AudioResNet(ResNetTrunk):
    """Log-mel ``[N, 1, n_mels, frames]`` → globally pooled features ``[N, num_features]``."""

    def __init__(self, cfg: AudioResNetCfg):
        super().__init__()
        self.cfg = cfg
        k = cfg.stem_kernel
        self.stem = nn.Sequential(
            conv_bn(nn.Conv2d, 1, cfg.width, (k, 1), stride=(cfg.stem_stride, 1)),
            conv_bn(nn.Conv2d, cfg.width, cfg.width, (1, k), stride=(1, cfg.stem_stride)),
        )
        self.stages = bottleneck_stages(
            cfg.layers,
            cfg.width,
            cfg.expansion,
            lambda i, cin, width, cout, first: bottleneck2d(
                cin, width, cout, 2 if first else 1, cfg.separable[i]
            ),
        )
        self.num_features = cfg.num_features

"""Single-pathway 3D ResNet (the visual CNN of AVBERT, a SlowOnly-style ResNet-50).

Stem ``Conv3d`` 5×7×7 stride (2, 2, 2) → BN → ReLU → max-pool 1×3×3 stride (1, 2, 2), then four
bottleneck stages whose first 1×1 convolution is temporal (kernel t×1×1) in the later stages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..layers.conv import Bottleneck, ResNetTrunk, bottleneck_stages, conv_bn


@dataclass(frozen=True)
class ResNet3dCfg:
    """Sizes of a bottleneck 3D ResNet; the defaults are the released AVBERT visual CNN."""

    layers: tuple[int, ...] = (3, 4, 6, 3)
    width: int = 64
    stem_kernel: tuple[int, int, int] = (5, 7, 7)
    stem_stride: tuple[int, int, int] = (2, 2, 2)
    temporal_kernels: tuple[int, ...] = (1, 1, 3, 3)
    spatial_strides: tuple[int, ...] = (1, 2, 2, 2)
    expansion: int = 4
    in_chans: int = 3

    def __post_init__(self):
        if not len(self.layers) == len(self.temporal_kernels) == len(self.spatial_strides):
            raise ConfigError(
                "ResNet3dCfg: layers, temporal_kernels, spatial_strides differ in length"
            )

    @property
    def num_features(self) -> int:
        return self.width * 2 ** (len(self.layers) - 1) * self.expansion


def bottleneck3d(cin: int, width: int, cout: int, temporal_kernel: int, stride: int) -> Bottleneck:
    """t×1×1 → 1×3×3 (spatial stride) → 1×1×1 bottleneck."""
    spatial = (1, stride, stride)
    return Bottleneck(
        conv_bn(nn.Conv3d, cin, width, (temporal_kernel, 1, 1)),
        conv_bn(nn.Conv3d, width, width, (1, 3, 3), stride=spatial),
        conv_bn(nn.Conv3d, width, cout, 1, relu=False),
        nn.Conv3d,
        cin,
        cout,
        spatial,
    )


class ResNet3d(ResNetTrunk):
    """Clips ``[N, 3, F, H, W]`` → globally pooled features ``[N, num_features]``.

    Weights are kept in ``channels_last_3d`` memory format, so the convolutions run channels-last
    (on the CPU 1.20x per paper-size training step, docs/performance.md; not measured on a GPU);
    values and ``state_dict`` keys are those of the contiguous layout. A 1x1x1 kernel is the same
    memory either way; it keeps the standard strides, the ones its gradient comes with (DDP warns
    "Grad strides do not match bucket view strides" when a parameter's strides and its
    gradient's differ, even only on size-1 dimensions).
    """

    def __init__(self, cfg: ResNet3dCfg):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(
            conv_bn(nn.Conv3d, cfg.in_chans, cfg.width, cfg.stem_kernel, stride=cfg.stem_stride),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.stages = bottleneck_stages(
            cfg.layers,
            cfg.width,
            cfg.expansion,
            lambda i, cin, width, cout, first: bottleneck3d(
                cin, width, cout, cfg.temporal_kernels[i], cfg.spatial_strides[i] if first else 1
            ),
        )
        self.num_features = cfg.num_features
        self.to(memory_format=torch.channels_last_3d)
        for param in self.parameters():
            if param.dim() == 5 and param.shape[2:] == (1, 1, 1):
                param.data = param.data.clone(memory_format=torch.contiguous_format)

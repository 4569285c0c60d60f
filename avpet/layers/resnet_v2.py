"""Pre-activation ResNet (ResNet v2, He et al. 2016) as MMV's Haiku code builds it: the audio
ResNet50 (``mmv/models/resnet.py``) and, with MMV's rotating temporal shift in every block, the
TSM-ResNet50 video network (``tsm_resnet.py``). ``SAME`` padding, BatchNorm eps 1e-5.

Stem: 7×7 stride-2 convolution (no norm) → 3×3 stride-2 max-pool; units of bottleneck blocks
``BN → ReLU → [shortcut conv] → [shift] → 1×1 → BN → ReLU → 3×3 (stride) → BN → ReLU → 1×1``,
plus the shortcut; a final BN → ReLU → spatial mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .same import SameConv, SameMaxPool
from .temporal_shift import rotating_shift

BN_EPS = 1e-5


@dataclass(frozen=True)
class ResNetV2Cfg:
    """Blocks per unit, channels (stem, each unit's output and bottleneck), input channels and
    ``shift`` (TSM: clips of frames, a temporal shift of ``shift_fraction`` in every block).
    The defaults are MMV's audio ResNet50; ×2 width doubles every channel count."""

    layers: tuple[int, ...] = (3, 4, 6, 3)
    stem: int = 64
    widths: tuple[int, ...] = (256, 512, 1024, 2048)
    bottlenecks: tuple[int, ...] = (64, 128, 256, 512)
    in_channels: int = 1
    shift: bool = False
    shift_fraction: float = 0.125

    def __post_init__(self):
        sizes = (len(self.layers), len(self.widths), len(self.bottlenecks))
        if len(set(sizes)) != 1 or not self.layers:
            raise ConfigError(
                f"ResNetV2Cfg: layers, widths and bottlenecks differ in length {sizes}"
            )
        if min(self.layers + self.widths + self.bottlenecks + (self.stem, self.in_channels)) <= 0:
            raise ConfigError(f"ResNetV2Cfg: sizes must be positive: {self}")
        if not 0.0 <= self.shift_fraction <= 0.5:
            raise ConfigError(f"ResNetV2Cfg.shift_fraction must be in [0, 0.5]: {self}")

    @property
    def num_features(self) -> int:
        return self.widths[-1]

    def scaled(self, factor: int) -> ResNetV2Cfg:
        """The same network ``factor`` times as wide (MMV's ``width_mult``)."""
        return replace(
            self,
            stem=self.stem * factor,
            widths=tuple(w * factor for w in self.widths),
            bottlenecks=tuple(b * factor for b in self.bottlenecks),
        )


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class PreActBottleneck(nn.Module):
    """One block; ``shortcut`` is a strided 1×1 convolution of the pre-activation, or ``None``
    (identity)."""

    def __init__(self, cin: int, width: int, cout: int, stride: int, project: bool, shift: float):
        super().__init__()
        self.shift = shift
        self.norms = nn.ModuleList([_norm(cin), _norm(width), _norm(width)])
        self.convs = nn.ModuleList(
            [
                SameConv(cin, width, (1, 1), (1, 1)),
                SameConv(width, width, (3, 3), (stride, stride)),
                SameConv(width, cout, (1, 1), (1, 1)),
            ]
        )
        self.shortcut = SameConv(cin, cout, (1, 1), (stride, stride)) if project else None

    def forward(self, x: Tensor, frames: int = 0) -> Tensor:
        """``[N, C, H, W]`` (``N = clips · frames`` when shifting) → ``[N, C', H', W']``."""
        net = torch.relu(self.norms[0](x))
        shortcut = x if self.shortcut is None else self.shortcut(net)
        if self.shift and frames:
            net = rotating_shift(net, frames, self.shift)
        for i, conv in enumerate(self.convs):
            if i:
                net = torch.relu(self.norms[i](net))
            net = conv(net)
        return shortcut + net


class ResNetV2(nn.Module):
    """``[N, C_in, H, W]`` → ``[N, num_features]`` (spatial mean after the final BN → ReLU)."""

    def __init__(self, cfg: ResNetV2Cfg):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(
            SameConv(cfg.in_channels, cfg.stem, (7, 7), (2, 2)), SameMaxPool((3, 3), (2, 2))
        )
        blocks, cin = [], cfg.stem
        for unit, (depth, width, cout) in enumerate(
            zip(cfg.layers, cfg.bottlenecks, cfg.widths, strict=True)
        ):
            for b in range(depth):
                stride = 2 if unit and not b else 1
                # every unit's first block has a projection shortcut (the official audio ResNet
                # asks whether the width changes, which at every released size it does)
                shift = cfg.shift_fraction if cfg.shift else 0.0
                blocks.append(PreActBottleneck(cin, width, cout, stride, not b, shift))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.norm = _norm(cin)
        self.num_features = cfg.num_features

    def forward(self, x: Tensor, frames: int = 0) -> Tensor:
        net = self.stem(x)
        for block in self.blocks:
            net = block(net, frames)
        return torch.relu(self.norm(net)).mean(dim=(2, 3))


class TSMResNetV2(nn.Module):
    """Clips ``[B, 3, T, H, W]`` (RGB in [0, 1]) → per-frame ResNet v2 with shifts across the T
    frames of each clip → mean over frames ``[B, num_features]``."""

    def __init__(self, cfg: ResNetV2Cfg):
        super().__init__()
        self.resnet = ResNetV2(cfg)
        self.num_features = cfg.num_features

    def forward(self, video: Tensor) -> Tensor:
        b, _, t = video.shape[:3]
        frames = video.transpose(1, 2).flatten(0, 1)  # [B·T, 3, H, W]
        return self.resnet(frames, t).unflatten(0, (b, t)).mean(dim=1)


class SpectrogramResNetV2(nn.Module):
    """Log-mel ``[B, 1, n_mels, frames]`` → ``[B, num_features]``; MMV's network reads
    ``[B, frames, n_mels, 1]`` (time first), so the two axes swap before the ResNet."""

    def __init__(self, cfg: ResNetV2Cfg):
        super().__init__()
        self.resnet = ResNetV2(cfg)
        self.num_features = cfg.num_features

    def forward(self, spectrogram: Tensor) -> Tensor:
        if spectrogram.dim() != 4:
            raise ConfigError(
                f"audio must be log-mel [B, 1, n_mels, frames], got {tuple(spectrogram.shape)}"
            )
        return self.resnet(spectrogram.transpose(2, 3))

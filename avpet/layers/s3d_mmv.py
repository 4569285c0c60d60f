"""S3D-G as MMV's Haiku code builds it (deepmind-research ``mmv/models/s3d.py``), the network of
the released MMV S3D checkpoint; :mod:`avpet.layers.s3d` is avpet's own, slightly different one.

The released model reads space-to-depth input (each 2×2×2 block of frames and pixels stacked into
24 channels, ``space_to_depth_batch`` of ``mmv/eval_ucf101.py``); here that rearrangement is the
first step of :meth:`S3DMMV.forward`, so the network takes RGB clips ``[B, 3, T, H, W]`` in [0, 1]
with T, H, W even. Then a ``2×4×4`` stride-1 convolution, and S3D-G with TensorFlow ``SAME``
padding, BatchNorm eps 1e-5, separable ``1×3×3`` + ``3×1×1`` convolutions and self-gating from
``Conv2d_2c_3x3`` on (so that unit is gated too, unlike the S3D-G paper's figure).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .s3d import INCEPTION
from .same import SameConv, SameMaxPool

BN_EPS = 1e-5
SPACE_TO_DEPTH = 2
# official layer names in order; pools are (kernel, stride)
POOLS = {
    "MaxPool_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}
BEFORE = {"Mixed_3b": "MaxPool_3a_3x3", "Mixed_4b": "MaxPool_4a_3x3", "Mixed_5b": "MaxPool_5a_2x2"}


@dataclass(frozen=True)
class S3DMMVCfg:
    """Channels: ``stem`` (``Conv2d_1a``, ``Conv2d_2b``, ``Conv2d_2c``) and ``inception``, the six
    branch widths of each of the nine Inception blocks in order, flattened."""

    stem: tuple[int, int, int] = (64, 64, 192)
    inception: tuple[int, ...] = tuple(c for block in INCEPTION.values() for c in block)

    def __post_init__(self):
        if len(self.inception) != 6 * len(INCEPTION) or min(self.stem + self.inception) <= 0:
            raise ConfigError(f"S3DMMVCfg needs 3 stem and 54 positive Inception widths: {self}")

    def blocks(self) -> dict[str, tuple[int, ...]]:
        """``{"Mixed_3b": (six widths), ...}``."""
        names = [f"Mixed_{name.split('_')[1]}" for name in INCEPTION]
        return {n: self.inception[6 * i : 6 * i + 6] for i, n in enumerate(names)}

    @property
    def num_features(self) -> int:
        last = self.inception[-6:]
        return last[0] + last[2] + last[4] + last[5]


class Unit(nn.Module):
    """``SUnit3D``: convolution(s) each followed by BN → ReLU, then optional self-gating; a
    ``separable`` k×k×k kernel is a ``1×k×k`` then a ``k×1×1`` convolution."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        separable: bool = False,
        gating: bool = False,
    ):
        super().__init__()
        kernels = [(1, *kernel[1:]), (kernel[0], 1, 1)] if separable else [kernel]
        ins = [cin] + [cout] * (len(kernels) - 1)
        self.convs = nn.ModuleList(
            SameConv(i, cout, k, (1, 1, 1)) for i, k in zip(ins, kernels, strict=True)
        )
        self.norms = nn.ModuleList(nn.BatchNorm3d(cout, eps=BN_EPS) for _ in kernels)
        self.gate = nn.Linear(cout, cout) if gating else None

    def forward(self, x: Tensor) -> Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = torch.relu(norm(conv(x)))
        if self.gate is not None:
            weights = torch.sigmoid(self.gate(x.mean(dim=(2, 3, 4))))
            x = x * weights[:, :, None, None, None]
        return x


class InceptionMMV(nn.Module):
    """``InceptionBlockV13D``: 1×1 | 1×1 → sep 3×3×3 | 1×1 → sep 3×3×3 | 3×3×3 max-pool → 1×1,
    each branch gated, concatenated over channels."""

    def __init__(self, cin: int, c: tuple[int, ...]):
        super().__init__()
        sep = (3, 3, 3)
        self.branch_0 = Unit(cin, c[0], gating=True)
        self.branch_1 = nn.Sequential(Unit(cin, c[1]), Unit(c[1], c[2], sep, True, True))
        self.branch_2 = nn.Sequential(Unit(cin, c[3]), Unit(c[3], c[4], sep, True, True))
        self.branch_3 = nn.Sequential(
            SameMaxPool((3, 3, 3), (1, 1, 1)), Unit(cin, c[5], gating=True)
        )
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch_0, self.branch_1, self.branch_2, self.branch_3)
        return torch.cat([branch(x) for branch in branches], dim=1)


def space_to_depth(video: Tensor) -> Tensor:
    """``[B, 3, T, H, W]`` → ``[B, 24, T/2, H/2, W/2]``, channel ``((dt·2 + dh)·2 + dw)·3 + c``
    as the official ``space_to_depth_batch`` orders them."""
    if video.dim() != 5:
        raise ConfigError(f"video must be clips [B, 3, T, H, W], got {tuple(video.shape)}")
    b, c, t, h, w = video.shape
    if t % 2 or h % 2 or w % 2:
        raise ConfigError(f"MMV's S3D needs even frames, height and width, got {t}×{h}×{w}")
    x = video.reshape(b, c, t // 2, 2, h // 2, 2, w // 2, 2).permute(0, 3, 5, 7, 1, 2, 4, 6)
    return x.reshape(b, 8 * c, t // 2, h // 2, w // 2)


class S3DMMV(nn.Module):
    """RGB clips ``[B, 3, T, H, W]`` → pooled features ``[B, num_features]`` (1024)."""

    def __init__(self, cfg: S3DMMVCfg):
        super().__init__()
        self.cfg = cfg
        c1a, c2b, c2c = cfg.stem
        layers = {
            "Conv2d_1a_7x7": Unit(3 * 8, c1a, (2, 4, 4)),
            "MaxPool_2a_3x3": SameMaxPool(*POOLS["MaxPool_2a_3x3"]),
            "Conv2d_2b_1x1": Unit(c1a, c2b),
            "Conv2d_2c_3x3": Unit(c2b, c2c, (3, 3, 3), separable=True, gating=True),
        }
        cin = c2c
        for name, widths in cfg.blocks().items():
            if name in BEFORE:
                layers[BEFORE[name]] = SameMaxPool(*POOLS[BEFORE[name]])
            layers[name] = InceptionMMV(cin, widths)
            cin = layers[name].out_channels
        self.layers = nn.ModuleDict(layers)
        self.num_features = cin

    def forward(self, video: Tensor) -> Tensor:
        x = space_to_depth(video)
        for layer in self.layers.values():
            x = layer(x)
        return x.mean(dim=(2, 3, 4))

"""TensorFlow's ``SAME`` padding, which the JAX/Haiku and TF models pad with: output size
``ceil(size / stride)``, the odd pad on the far side (PyTorch's symmetric padding differs wherever
the stride or the kernel is even)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn


def same_padding(
    sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]
) -> tuple[int, ...]:
    """``F.pad`` amounts (last dimension first) for ``SAME`` over the trailing ``sizes``."""
    pads: list[int] = []
    for size, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride), strict=True):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class SameConv(nn.Module):
    """A bias-free 2D/3D convolution with ``SAME`` padding: ``[N, C, *S]`` → ``[N, C', *S']``."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, ...], stride: tuple[int, ...]):
        super().__init__()
        conv = nn.Conv2d if len(kernel) == 2 else nn.Conv3d
        self.conv = conv(cin, cout, kernel, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pad = same_padding(x.shape[2:], self.conv.kernel_size, self.conv.stride)
        return self.conv(F.pad(x, pad) if any(pad) else x)


class SameMaxPool(nn.Module):
    """Max-pooling with ``SAME`` padding (padded cells never win): 2D or 3D by ``len(kernel)``."""

    def __init__(self, kernel: tuple[int, ...], stride: tuple[int, ...]):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        pad = same_padding(x.shape[2:], self.kernel, self.stride)
        x = F.pad(x, pad, value=float("-inf")) if any(pad) else x
        pool = F.max_pool2d if len(self.kernel) == 2 else F.max_pool3d
        return pool(x, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"

"""Convolution + batch norm units and the residual bottleneck shared by every ResNet here."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


def conv_bn(
    conv: type[nn.Conv2d] | type[nn.Conv3d],
    cin: int,
    cout: int,
    kernel: int | tuple[int, ...],
    stride: int | tuple[int, ...] = 1,
    relu: bool = True,
) -> nn.Sequential:
    """Bias-free convolution, batch norm and optionally ReLU; padding keeps 'same' size."""
    kernel = (kernel,) * (2 if conv is nn.Conv2d else 3) if isinstance(kernel, int) else kernel
    norm = nn.BatchNorm2d if conv is nn.Conv2d else nn.BatchNorm3d
    layers = [
        conv(cin, cout, kernel, stride=stride, padding=tuple(k // 2 for k in kernel), bias=False),
        norm(cout),
    ]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """``relu(shortcut(x) + conv_c(conv_b(conv_a(x))))``; the shortcut is a strided 1×1
    convolution + BN where the channels or the resolution change, else the identity."""

    def __init__(
        self,
        conv_a: nn.Module,
        conv_b: nn.Module,
        conv_c: nn.Module,
        conv: type[nn.Conv2d] | type[nn.Conv3d],
        cin: int,
        cout: int,
        stride: int | tuple[int, ...],
    ):
        super().__init__()
        self.conv_a, self.conv_b, self.conv_c = conv_a, conv_b, conv_c
        downsample = any(s != 1 for s in _as_tuple(stride))
        self.shortcut = (
            conv_bn(conv, cin, cout, 1, stride=stride, relu=False)
            if cin != cout or downsample
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.shortcut(x) + self.conv_c(self.conv_b(self.conv_a(x))))


def _as_tuple(stride: int | tuple[int, ...]) -> tuple[int, ...]:
    return stride if isinstance(stride, tuple) else (stride,)


BlockFactory = Callable[[int, int, int, int, bool], nn.Module]
"""``block(stage, cin, width, cout, first)`` → one residual block of stage ``stage``."""


def bottleneck_stages(
    layers: tuple[int, ...], width: int, expansion: int, block: BlockFactory
) -> nn.Sequential:
    """Stage ``i``: ``layers[i]`` blocks of bottleneck width ``width·2^i`` and output channels
    ``width·2^i·expansion``; its first block takes the previous stage's channels."""
    stages, cin = [], width
    for i, depth in enumerate(layers):
        inner = width * 2**i
        cout = inner * expansion
        blocks = [block(i, cin if b == 0 else cout, inner, cout, b == 0) for b in range(depth)]
        stages.append(nn.Sequential(*blocks))
        cin = cout
    return nn.Sequential(*stages)


class ResNetTrunk(nn.Module):
    """``stem`` → ``stages`` → global average pool: ``[N, C, *S]`` → ``[N, num_features]``.

    With ``grad_checkpointing`` set, training keeps only the inputs of the stem and of each
    residual block and recomputes them in the backward pass (batch-norm running statistics then
    see each batch twice, as in timm): the convolutions' activations are most of a long sequence's
    memory.
    """

    stem: nn.Module
    stages: nn.Sequential
    num_features: int
    grad_checkpointing: bool = False

    def forward_map(self, x: Tensor) -> Tensor:
        """The last feature map ``[N, num_features, *S']``."""
        if not (self.grad_checkpointing and torch.is_grad_enabled()):
            return self.stages(self.stem(x))
        for unit in (self.stem, *(block for stage in self.stages for block in stage)):
            x = checkpoint(unit, x, use_reentrant=False)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_map(x).flatten(2).mean(-1)

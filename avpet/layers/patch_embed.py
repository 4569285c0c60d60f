"""Raw-signal tokenizers of VATT: voxel and waveform patches plus learned position embeddings.

Positions are factorized (video: ``t + h + w`` tables; audio: one temporal table); the summed
position embedding goes through LayerNorm before it is added to the patch embeddings, then
dropout, as in the official VATT. An input grid larger than the configured buckets is an error;
a smaller one uses the first rows of each table.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError


def _check_grid(grid: tuple[int, ...], buckets: tuple[int, ...], what: str) -> None:
    if any(g > b for g, b in zip(grid, buckets, strict=True)) or any(g == 0 for g in grid):
        raise ConfigError(f"{what} patch grid {grid} does not fit the position buckets {buckets}")


def _pre_projection(dim: int, enabled: bool) -> nn.Module:
    """VATT-MA's per-modality ``Linear(D, D) + GELU`` between patches and positions."""
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU()) if enabled else nn.Identity()


class VideoPatchEmbed(nn.Module):
    """``[B, 3, F, H, W]`` → ``[B, (F/pt)(H/ps)(W/ps), D]`` via a strided Conv3d (VATT: 4×16×16)."""

    def __init__(
        self,
        dim: int,
        patch: tuple[int, int, int] = (4, 16, 16),
        buckets: tuple[int, int, int] = (8, 14, 14),
        dropout: float = 0.1,
        eps: float = 1e-6,
        pre_projection: bool = False,
    ):
        super().__init__()
        self.buckets = buckets
        self.proj = nn.Conv3d(3, dim, kernel_size=patch, stride=patch)
        self.pre_proj = _pre_projection(dim, pre_projection)
        self.pos = nn.ModuleList(nn.Embedding(n, dim) for n in buckets)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)
        for table in self.pos:
            nn.init.normal_(table.weight, std=dim**-0.5)

    @property
    def max_tokens(self) -> int:
        t, h, w = self.buckets
        return t * h * w

    def forward(self, video: Tensor) -> Tensor:
        x = self.proj(video)  # [B, D, t, h, w]
        t, h, w = x.shape[2:]
        _check_grid((t, h, w), self.buckets, "video")
        ids = [torch.arange(n, device=x.device) for n in (t, h, w)]
        pos = (
            self.pos[0](ids[0])[:, None, None]
            + self.pos[1](ids[1])[None, :, None]
            + self.pos[2](ids[2])[None, None, :]
        )  # [t, h, w, D]
        tokens = self.pre_proj(x.flatten(2).transpose(1, 2)) + self.norm(pos).flatten(0, 2)
        return self.drop(tokens)


class WavePatchEmbed(nn.Module):
    """Waveform ``[B, S]`` or ``[B, 1, S]`` → ``[B, S/patch, D]``, strided Conv1d (VATT: 128)."""

    def __init__(
        self,
        dim: int,
        patch: int = 128,
        buckets: int = 1200,
        dropout: float = 0.1,
        eps: float = 1e-6,
        pre_projection: bool = False,
    ):
        super().__init__()
        self.buckets = buckets
        self.proj = nn.Conv1d(1, dim, kernel_size=patch, stride=patch)
        self.pre_proj = _pre_projection(dim, pre_projection)
        self.pos = nn.Embedding(buckets, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.pos.weight, std=dim**-0.5)

    @property
    def max_tokens(self) -> int:
        return self.buckets

    def forward(self, wave: Tensor) -> Tensor:
        x = self.proj(wave if wave.dim() == 3 else wave.unsqueeze(1))  # [B, D, n]
        _check_grid((x.shape[2],), (self.buckets,), "audio")
        pos = self.norm(self.pos(torch.arange(x.shape[2], device=x.device)))
        return self.drop(self.pre_proj(x.transpose(1, 2)) + pos)

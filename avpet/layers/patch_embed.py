"""Raw-signal tokenizers of VATT: voxel and waveform patches plus learned position embeddings.

Positions are factorized (video: ``t + h + w`` tables; audio: one temporal table); the summed
position embedding goes through LayerNorm before it is added to the patch embeddings, then
dropout, as in the official VATT. A patch grid of another size than a table (smaller or larger)
reads that table through the official order-3 spline (:mod:`avpet.layers.spline`); samples or
pixels that do not fill a last patch are dropped, as the official ``valid`` convolution does. An
input shorter than one patch is an error.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import ConfigError
from .spline import resample_table


def _check_size(
    size: tuple[int, ...], patch: tuple[int, ...], buckets: tuple[int, ...], what: str
) -> None:
    """An input needs one patch along each axis; ``size``/``patch``/``buckets`` per axis."""
    if any(s < p for s, p in zip(size, patch, strict=True)):
        native = "×".join(str(p * b) for p, b in zip(patch, buckets, strict=True))
        raise ConfigError(
            f"{what} of size {'×'.join(map(str, size))} is smaller than one patch "
            f"({'×'.join(map(str, patch))}); this model's native input is {native}"
        )


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
        self.patch = patch
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
        _check_size(tuple(video.shape[2:]), self.patch, self.buckets, "video (frames×H×W)")
        x = self.proj(video)  # [B, D, t, h, w]
        t, h, w = (
            resample_table(table.weight, n) for table, n in zip(self.pos, x.shape[2:], strict=True)
        )
        pos = t[:, None, None] + h[None, :, None] + w[None, None, :]  # [t, h, w, D]
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
        self.patch = patch
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
        _check_size((wave.shape[-1],), (self.patch,), (self.buckets,), "audio (samples)")
        x = self.proj(wave if wave.dim() == 3 else wave.unsqueeze(1))  # [B, D, n]
        pos = self.norm(resample_table(self.pos.weight, x.shape[2]))
        return self.drop(self.pre_proj(x.transpose(1, 2)) + pos)

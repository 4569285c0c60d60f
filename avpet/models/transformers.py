"""The Transformer stack of AVBERT with its four parameter-sharing schemes.

A *stream* is one of the (up to three) Transformers: ``visual``, ``audio``, ``multimodal``.
``factorized`` swaps every dense linear map for :class:`~avpet.layers.FactorLinear`;
``cross_layer`` applies one block ``depth`` times; ``cross_stream`` lets every stream use the same
encoder (with private low-rank factors per stream when factorized). The named schemes:

=========  ==========  ===========  ============
sharing    factorized  cross_layer  cross_stream
=========  ==========  ===========  ============
none       no          no           no
layer      no          yes          no
all        no          yes          yes
lowrank    yes         yes          yes
=========  ==========  ===========  ============
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from torch import Tensor, nn

from ..errors import ConfigError
from ..layers import DenseLinear, Encoder, FactorLinear, PostNormBlock

SHARING_SCHEMES: dict[str, dict[str, bool]] = {
    "none": dict(factorized=False, cross_layer=False, cross_stream=False),
    "layer": dict(factorized=False, cross_layer=True, cross_stream=False),
    "all": dict(factorized=False, cross_layer=True, cross_stream=True),
    "lowrank": dict(factorized=True, cross_layer=True, cross_stream=True),
}


@dataclass(frozen=True)
class TransformerCfg:
    """Width, depth and sharing of the Transformers; defaults are the paper's (ALBERT-base-like)."""

    dim: int = 768
    depth: int = 6
    heads: int = 12
    mlp_dim: int = 3072
    rank: int = 128
    factorized: bool = True
    cross_layer: bool = True
    cross_stream: bool = True
    dropout: float = 0.1
    attn_dropout: float = 0.1
    max_positions: int = 22
    eps: float = 1e-12
    rotation_init_std: float = 1e-3

    def __post_init__(self):
        if self.dim % self.heads:
            raise ConfigError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.factorized and not 0 < self.rank <= min(self.dim, self.mlp_dim):
            raise ConfigError(f"rank must be in 1..{min(self.dim, self.mlp_dim)}, got {self.rank}")
        if self.depth < 1 or self.max_positions < 2:
            raise ConfigError("depth must be >= 1 and max_positions >= 2")

    @property
    def sharing(self) -> str:
        """The scheme's name, or ``"custom"`` for a combination outside the table."""
        knobs = dict(
            factorized=self.factorized, cross_layer=self.cross_layer, cross_stream=self.cross_stream
        )
        return next((name for name, k in SHARING_SCHEMES.items() if k == knobs), "custom")


class StreamTransformers(nn.Module):
    """The Transformers of ``streams``, built so that shared weights are one tensor.

    ``forward(x, stream)`` runs stream ``stream``'s Transformer over ``x`` [B, N, D].
    """

    def __init__(self, cfg: TransformerCfg, streams: tuple[str, ...]):
        super().__init__()
        self.cfg = cfg
        self.streams = streams
        num_encoders = 1 if cfg.cross_stream else len(streams)
        modalities = len(streams) if cfg.cross_stream else 1
        self.encoders = nn.ModuleList(self._encoder(cfg, modalities) for _ in range(num_encoders))

    @staticmethod
    def _encoder(cfg: TransformerCfg, modalities: int) -> Encoder:
        if cfg.factorized:
            make_linear = partial(
                FactorLinear,
                rank=cfg.rank,
                num_modalities=modalities,
                rotation_init_std=cfg.rotation_init_std,
            )
        else:
            make_linear = DenseLinear
        blocks = [
            PostNormBlock(
                cfg.dim, cfg.heads, cfg.mlp_dim, make_linear, cfg.attn_dropout, cfg.dropout, cfg.eps
            )
            for _ in range(1 if cfg.cross_layer else cfg.depth)
        ]
        return Encoder(blocks, cfg.depth)

    def encoder_of(self, stream: str) -> tuple[Encoder, int]:
        """The encoder that runs ``stream`` and the modality index of its private weights."""
        index = self.streams.index(stream)
        if self.cfg.cross_stream:
            return self.encoders[0], index
        return self.encoders[index], 0

    def forward(self, x: Tensor, stream: str, key_mask: Tensor | None = None) -> Tensor:
        encoder, modality = self.encoder_of(stream)
        return encoder(x, modality, key_mask)

"""Reusable building blocks: factorized linear, attention, post-LN blocks, embeddings."""

from .attention import DenseLinear, SelfAttention
from .blocks import Encoder, PostNormBlock
from .embeddings import Projection, SequenceEmbedding
from .factor_linear import FactorLinear, SkewExponential

__all__ = [
    "DenseLinear",
    "Encoder",
    "FactorLinear",
    "PostNormBlock",
    "Projection",
    "SelfAttention",
    "SequenceEmbedding",
    "SkewExponential",
]

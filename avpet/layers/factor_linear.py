"""Low-rank factorized linear layer shared across modalities: ``W_m = U R_m V_mᵀ``.

AVBERT's parameter sharing (docs/models.md): for modality ``m`` (visual 0, audio 1, multimodal 2)

    h = V_mᵀ x            private projection to rank O, no bias
    h = h / ‖h‖₂
    h = h R_m             R_m ∈ SO(O), private, R = expm(S - Sᵀ) with S the strict upper triangle
    y = U h + b           U and b shared by every modality

The orthogonal ``R_m`` is a :mod:`torch.nn.utils.parametrize` parametrization of a free matrix, so
``with parametrize.cached():`` around a model forward computes each matrix exponential once, not
once per call of the (cross-layer shared) layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize


class SkewExponential(nn.Module):
    """Parametrization ``A ↦ expm(triu(A, 1) - triu(A, 1)ᵀ)``: any ``[..., O, O]`` to SO(O)."""

    def forward(self, generator: Tensor) -> Tensor:
        upper = generator.triu(1)
        return torch.linalg.matrix_exp(upper - upper.transpose(-1, -2))


class FactorLinear(nn.Module):
    """``y = U R_m V_mᵀ x / ‖V_mᵀ x‖ + b`` for ``num_modalities`` modalities at rank ``rank``.

    Parameters: ``u`` [out, O] and ``bias`` [out] (shared), ``v`` [M, O, in] (private per
    modality), ``rotation`` [M, O, O] (private, parametrized to be orthogonal).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        num_modalities: int,
        rotation_init_std: float = 1e-3,
    ):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.num_modalities = num_modalities
        self.u = nn.Parameter(torch.empty(out_features, rank))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.v = nn.Parameter(torch.empty(num_modalities, rank, in_features))
        self.rotation = nn.Parameter(torch.empty(num_modalities, rank, rank))
        self.rotation_init_std = rotation_init_std
        self.reset_parameters()
        parametrize.register_parametrization(self, "rotation", SkewExponential())

    def reset_parameters(self) -> None:
        """U, Vᵀ like ``nn.Linear``; rotations near the identity (small skew generator)."""
        nn.init.kaiming_uniform_(self.u, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.v, a=math.sqrt(5))
        nn.init.zeros_(self.bias)
        generator = (
            self.parametrizations.rotation.original
            if parametrize.is_parametrized(self, "rotation")
            else self.rotation
        )
        nn.init.normal_(generator, std=self.rotation_init_std)

    def forward(self, x: Tensor, modality: int) -> Tensor:
        """``x`` [..., in] → [..., out] through modality ``modality``'s private factors."""
        h = F.normalize(F.linear(x, self.v[modality]), dim=-1)
        h = h @ self.rotation[modality]
        return F.linear(h, self.u, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"rank={self.rank}, num_modalities={self.num_modalities}"
        )

"""FactorLinear: W_m = U R_m V_mᵀ with shared U, b and private orthogonal R_m, V_m."""

import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from avpet.layers import FactorLinear


def test_rotation_is_special_orthogonal():
    layer = FactorLinear(32, 48, rank=16, num_modalities=3, rotation_init_std=0.5)
    eye = torch.eye(16)
    for r in layer.rotation:
        torch.testing.assert_close(r @ r.T, eye, atol=1e-5, rtol=0)
        assert torch.det(r).item() > 0.999
    # A large generator is not the identity: the parametrization really rotates.
    assert (layer.rotation[0] - eye).abs().max() > 0.1


def test_forward_matches_the_factorized_formula():
    torch.manual_seed(0)
    layer = FactorLinear(8, 6, rank=4, num_modalities=2, rotation_init_std=0.3)
    x = torch.randn(5, 8)
    for m in range(2):
        generator = layer.parametrizations.rotation.original[m].triu(1)
        rotation = torch.linalg.matrix_exp(generator - generator.T)
        h = x @ layer.v[m].T
        expected = (h / h.norm(dim=-1, keepdim=True)) @ rotation @ layer.u.T + layer.bias
        torch.testing.assert_close(layer(x, m), expected)


def test_modalities_have_private_factors_and_share_u():
    layer = FactorLinear(8, 6, rank=4, num_modalities=3)
    layer(torch.randn(5, 8), 1).sum().backward()
    assert layer.u.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0
    v_grad = layer.v.grad.abs().sum(dim=(1, 2))
    r_grad = layer.parametrizations.rotation.original.grad.abs().sum(dim=(1, 2))
    assert v_grad[1] > 0 and v_grad[0] == 0 and v_grad[2] == 0
    assert r_grad[1] > 0 and r_grad[0] == 0 and r_grad[2] == 0


def test_rotation_computed_once_under_cached(monkeypatch):
    layer = FactorLinear(8, 6, rank=4, num_modalities=3)
    calls = []
    real = torch.linalg.matrix_exp
    monkeypatch.setattr(torch.linalg, "matrix_exp", lambda a: calls.append(1) or real(a))
    x = torch.randn(2, 8)
    with parametrize.cached():
        for m in (0, 1, 2, 0, 1, 2):
            layer(x, m)
    assert len(calls) == 1
    layer(x, 0)
    assert len(calls) == 2


def test_output_is_scale_invariant_in_the_input():
    layer = FactorLinear(8, 6, rank=4, num_modalities=1)
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x, 0), layer(7.0 * x, 0))
    assert not torch.allclose(layer(x, 0), F.linear(x, torch.zeros(6, 8), layer.bias))

"""Position-table resampling (VATT's ``ExpandableEmbedding``): tfa's polyharmonic system,
its natural-spline solution, a value by hand, caching and gradients."""

from __future__ import annotations

import pytest
import torch

from avpet.errors import ConfigError
from avpet.layers.spline import resample_table, spline_matrix


def coordinates(count: int) -> torch.Tensor:
    """``i / count``, float32-rounded as the official code places rows and queries."""
    return (torch.arange(count, dtype=torch.float64) / count).float().double()


def block_system_matrix(rows: int, target: int) -> torch.Tensor:
    """tfa's ``interpolate_spline`` route in float64: ``φ(r²) = max(r², 1e-10)^1.5``, solve
    ``[[Φ(c, c), B], [Bᵀ, 0]] [w; v] = [f; 0]`` (``B = [c, 1]``), read ``Φ(q, c) w + [q, 1] v``;
    as the matrix ``[target, rows]`` it applies to a table."""
    c, q = coordinates(rows), coordinates(target)

    def phi(x, y):
        return (x[:, None] - y[None, :]).square().clamp_min(1e-10).pow(1.5)

    poly = torch.stack([c, torch.ones_like(c)], dim=1)
    system = torch.cat(
        [torch.cat([phi(c, c), poly], 1), torch.cat([poly.T, torch.zeros(2, 2).double()], 1)]
    )
    read = torch.cat([phi(q, c), q[:, None], torch.ones_like(q)[:, None]], dim=1)
    return torch.linalg.solve(system, read.T)[:rows].T  # the system is symmetric


@pytest.mark.parametrize(
    "rows, target", [(2, 1), (2, 5), (3, 7), (4, 3), (8, 2), (14, 4), (14, 20), (16, 8), (30, 45)]
)
def test_the_natural_spline_solves_tfa_system(rows, target):
    """The tridiagonal route gives what tfa's ``[[Φ, B], [Bᵀ, 0]]`` system gives (solved here
    in float64, fine at these sizes), below the table and above it."""
    torch.testing.assert_close(
        spline_matrix(rows, target), block_system_matrix(rows, target), atol=1e-10, rtol=0
    )


def test_a_value_by_hand():
    """Rows (0, 1, 0) at 0, 1/3, 2/3: natural spline, s₁ = 6·(−2)·3 / (4/3) = −27; at 1/2
    (a = b = 1/2): 1/2 + (1/8 − 1/2)·(−27)·(1/9)/6 = 0.6875. Read at 0 and 1/2 (two rows)."""
    table = torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64)
    torch.testing.assert_close(resample_table(table, 2)[:, 0], torch.tensor([0.0, 0.6875]).double())


def test_lines_are_kept_and_the_native_size_is_untouched():
    """A linear table stays linear at any size, also beyond its last row (the spline continues
    as a line there); the table's own length returns the table itself."""

    table = torch.stack([coordinates(1200), 1 - 3 * coordinates(1200)], dim=1)
    for target in (300, 1500):
        expected = torch.stack([coordinates(target), 1 - 3 * coordinates(target)], dim=1)
        torch.testing.assert_close(resample_table(table, target), expected)
    same = torch.randn(8, 4)
    assert resample_table(same, 8) is same


def test_audio_table_matrix_is_bounded_and_cached():
    """1200 → 300 (VATT's audio table, 0.8 s): each row is a partition of unity with
    cardinal weights of size at most 1, solved once per size."""
    matrix = spline_matrix(1200, 300)
    assert matrix.shape == (300, 1200) and matrix.dtype == torch.float64
    torch.testing.assert_close(matrix.sum(1), torch.ones(300, dtype=torch.float64))
    assert matrix.abs().max() <= 1.0 + 1e-12
    assert spline_matrix(1200, 300) is matrix


def test_gradients_reach_the_table():
    table = torch.randn(14, 6, requires_grad=True)
    resample_table(table, 20).square().sum().backward()
    assert table.grad is not None and table.grad.abs().sum() > 0


def test_a_single_row_cannot_be_resampled():
    with pytest.raises(ConfigError, match="table of 1 row cannot be resampled to 3"):
        resample_table(torch.randn(1, 4), 3)

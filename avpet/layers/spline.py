"""Resampling of learned position tables to another length, as VATT's ``ExpandableEmbedding``.

The official VATT fits a polyharmonic spline of order 3 (``tfa.image.interpolate_spline``,
no regularisation) through a table's ``n`` rows placed at ``i / n`` and reads it at
``j / m`` for a grid of ``m`` positions (both coordinate sets rounded to float32, as the
official code casts them). The spline is linear in the table, so the ``m × n`` resampling
matrix is computed once per ``(n, m)`` in float64 and cached; a forward is one matmul and stays
differentiable with respect to the table.

Precision matters: tfa's block system has a condition number of about 1e12 for VATT's
1200-row audio table. Solved in float32, as the official code does, it returns noise (and
1e-4-relative errors already for the 14-row video tables); solved in float64 it is off by
about 1e-4 of the values. The tridiagonal form used here is exact to rounding (docs/hub.md).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from ..errors import ConfigError


def _points(count: int) -> Tensor:
    """``i / count`` for ``i < count``, rounded to float32 as the official code does, [count]."""
    return (torch.arange(count, dtype=torch.float64) / count).float().double()


@lru_cache(maxsize=64)
def spline_matrix(rows: int, target: int) -> Tensor:
    """Float64 ``[target, rows]`` matrix ``M``: ``M @ table`` is the spline read at ``target``
    positions.

    In one dimension the solution of tfa's system ``[[Φ(c, c), B], [Bᵀ, 0]] [w; v] = [f; 0]``
    (``Φ = |Δ|³``, ``B = [c, 1]``, read as ``Φ(q, c) w + [q, 1] v``) is the natural cubic
    spline through the rows, continued linearly beyond the last row (``Σ w = Σ w c = 0``
    cancels the cubic and quadratic terms outside). It is computed here from its tridiagonal
    system for the second derivatives, which is well conditioned, on the CPU (also under a
    ``torch.device("meta")`` context, whose tensors hold no values).
    """
    with torch.device("cpu"):
        return _natural_spline(rows, target)


def _natural_spline(rows: int, target: int) -> Tensor:
    if rows < 2:
        raise ConfigError(
            f"a position table of {rows} row cannot be resampled to {target} positions "
            "(the spline needs two rows)"
        )
    c, q = _points(rows), _points(target)
    h = c[1:] - c[:-1]  # [n-1]
    # second derivatives s = S f (s_0 = s_{n-1} = 0): T s_inner = 6 · second differences
    second = torch.zeros(rows, rows, dtype=torch.float64)
    if rows > 2:
        inner = torch.zeros(rows - 2, rows, dtype=torch.float64)
        k = torch.arange(rows - 2)
        inner[k, k] = 6 / h[:-1]
        inner[k, k + 1] = -6 / h[:-1] - 6 / h[1:]
        inner[k, k + 2] = 6 / h[1:]
        tri = torch.diag(2 * (h[:-1] + h[1:])) + torch.diag(h[1:-1], 1) + torch.diag(h[1:-1], -1)
        second[1:-1] = torch.linalg.solve(tri, inner)
    # each query in its interval [c_k, c_{k+1}]; both grids start at 0, so a query can only
    # lie beyond the last row (then k = n - 2)
    k = (torch.searchsorted(c, q, right=True) - 1).clamp(max=rows - 2)
    width = h[k]
    a, b = (c[k + 1] - q) / width, (q - c[k]) / width
    outside = q > c[-1]  # linear there: the cubic terms vanish
    curve_a = torch.where(outside, 0.0, (a.pow(3) - a) * width.square() / 6)
    curve_b = torch.where(outside, 0.0, (b.pow(3) - b) * width.square() / 6)
    matrix = curve_a[:, None] * second[k] + curve_b[:, None] * second[k + 1]  # [m, n]
    # beyond the last row the line continues its slope f'(c_last) = Δf/h + h s_{last-1} / 6
    matrix += torch.where(outside, (q - c[-1]) * width / 6, 0.0)[:, None] * second[k]
    index = torch.arange(target)
    matrix[index, k] += a
    matrix[index, k + 1] += b
    return matrix


@lru_cache(maxsize=64)
def _on(rows: int, target: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    return spline_matrix(rows, target).to(device=device, dtype=dtype)


def resample_table(table: Tensor, target: int) -> Tensor:
    """Position table ``[n, D]`` → ``[target, D]``: unchanged when ``target == n``, else the
    official order-3 polyharmonic spline through its rows."""
    rows = table.shape[0]
    if target == rows:
        return table
    return _on(rows, target, table.device, table.dtype) @ table

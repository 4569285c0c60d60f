"""NCE / MIL-NCE against the formula by hand, across two real processes, and as the peers'
pretraining objective."""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import free_port

import avpet
from avpet.errors import ConfigError
from avpet.pretrain.config import ContrastiveCfg
from avpet.pretrain.contrastive import milnce_loss
from avpet.pretrain.tasks import ContrastiveTask


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(c * c for c in v))
    return [c / n for c in v]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(p * q for p, q in zip(a, b, strict=True))


def _reference(x: list[list[float]], y: list[list[list[float]]], tau: float) -> float:
    """loss_i = log Σ_jk [e^{s(x_i,y_jk)} + e^{s(x_j,y_ik)}] - log Σ_k e^{s(x_i,y_ik)}, mean_i."""
    x = [_unit(v) for v in x]
    y = [[_unit(v) for v in row] for row in y]
    total = 0.0
    for i in range(len(x)):
        den = sum(
            math.exp(_dot(x[i], y[j][k]) / tau) + math.exp(_dot(x[j], y[i][k]) / tau)
            for j in range(len(x))
            for k in range(len(y[0]))
        )
        num = sum(math.exp(_dot(x[i], y[i][k]) / tau) for k in range(len(y[0])))
        total += math.log(den) - math.log(num)
    return total / len(x)


def test_nce_two_pairs_by_hand():
    # x1 = (1, 0), x2 = (0, 1); y1 = (1, 0), y2 = (1, 1)/√2. With τ = 1:
    # loss_1 = log(e^1 + e^{.7071} + e^1 + e^0) - 1, loss_2 = log(e^{.7071} + e^{.7071} + e^0
    # + e^{.7071}) - .7071.
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    c = 1 / math.sqrt(2)
    loss_1 = math.log(2 * math.e + math.exp(c) + 1) - 1
    loss_2 = math.log(3 * math.exp(c) + 1) - c
    expected = (loss_1 + loss_2) / 2
    assert milnce_loss(x, y, temperature=1.0).item() == pytest.approx(expected, rel=1e-6)


def test_milnce_matches_formula_with_default_temperature():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=g)
    y = torch.randn(3, 5, 4, generator=g)
    expected = _reference(x.tolist(), y.tolist(), 0.07)
    assert milnce_loss(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_milnce_with_one_positive_equals_nce():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    assert milnce_loss(x, y).item() == pytest.approx(milnce_loss(x, y[:, None]).item())


def test_aligned_pairs_score_lower_than_shuffled():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 16, generator=g)
    aligned = milnce_loss(x, x + 0.01 * torch.randn(8, 16, generator=g))
    shuffled = milnce_loss(x, x.roll(1, dims=0))
    assert aligned.item() < shuffled.item()


def test_bad_shapes_and_temperature_raise():
    with pytest.raises(ConfigError, match="expected anchors"):
        milnce_loss(torch.randn(2, 4), torch.randn(3, 4))
    with pytest.raises(ConfigError, match="temperature"):
        milnce_loss(torch.randn(2, 4), torch.randn(2, 4), temperature=0.0)


def _worker(rank: int, world: int, port: int, x: torch.Tensor, y: torch.Tensor, out: dict):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        n = x.shape[0] // world
        local_x = x[rank * n : (rank + 1) * n].clone().requires_grad_(True)
        loss = milnce_loss(local_x, y[rank * n : (rank + 1) * n])
        loss.backward()
        out[rank] = (loss.item(), local_x.grad.abs().sum().item())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_see_the_global_batch():
    """Mean of the per-rank losses (2 gloo processes) equals the one-process full-batch loss."""
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(6, 8, generator=g), torch.randn(6, 2, 8, generator=g)
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(2, free_port(), x, y, out), nprocs=2, join=True)
        results = dict(out)
    assert set(results) == {0, 1}
    assert all(grad > 0 for _, grad in results.values())
    mean_loss = (results[0][0] + results[1][0]) / 2
    assert mean_loss == pytest.approx(milnce_loss(x, y).item(), rel=1e-5)
    # Each rank alone (local negatives only) would give a different, smaller loss.
    local_only = (milnce_loss(x[:3], y[:3]).item() + milnce_loss(x[3:], y[3:]).item()) / 2
    assert mean_loss > local_only


@pytest.mark.parametrize("name", ["mmv_small_tsm_fac", "vatt_small"])
def test_peer_pretrainer_fits_a_fixed_batch(name):
    """A few Adam steps on one batch lower NCE + MIL-NCE: the objective trains the backbone."""
    torch.manual_seed(0)
    backbone = avpet.create_model(name)
    spec = backbone.pretrained_cfg.input
    b, t = 4, 2  # AVBERT layout: each sequence's clips become separate samples
    visual = torch.rand(b, t, 3, spec.frames, spec.size, spec.size)
    if name.startswith("vatt"):
        audio = torch.randn(b, t, int(spec.frames / spec.fps * spec.sample_rate))
    else:
        audio = torch.randn(b, t, 1, spec.n_mels, spec.mel_frames)
    text = torch.randint(1, 4096, (b, t, 3, 8))  # 3 positive narrations per clip
    model = ContrastiveTask(backbone, ContrastiveCfg(va_weight=1.0, vt_weight=0.5))

    def seeded_forward() -> dict[str, torch.Tensor]:  # the same DropToken / dropout draws
        torch.manual_seed(1)
        return model(visual, audio, text)

    with torch.no_grad():
        before = seeded_forward()["loss"].item()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    for _ in range(4):
        out = seeded_forward()
        assert set(out) == {"loss", "nce_va", "milnce_vt"}
        torch.testing.assert_close(out["loss"], out["nce_va"] + 0.5 * out["milnce_vt"])
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
    with torch.no_grad():
        assert seeded_forward()["loss"].item() < 0.8 * before
    assert "milnce_vt" not in model(visual, audio)


def test_contrastive_task_needs_a_joint_level():
    with pytest.raises(ConfigError, match="nothing to contrast"):
        ContrastiveTask(avpet.create_model("vatt_base"))

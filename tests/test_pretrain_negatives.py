"""Negative samplers: CANS statistics with a fixed seed, the 95 % interval, the baselines."""

from __future__ import annotations

import pytest
import torch

from avpet.pretrain.config import NegativesCfg
from avpet.pretrain.negatives import central_interval, normalised_distances, select_negatives


def _pool(n: int = 101, dim: int = 16, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator)


def _mean_distance(strategy: str, draws: int = 300) -> float:
    pool, positive = _pool(), torch.tensor([0])
    distance = torch.cdist(pool[:1], pool)[0]
    cfg = NegativesCfg(strategy=strategy, num_negatives=10)
    generator = torch.Generator().manual_seed(1)
    chosen = torch.cat(
        [select_negatives(pool, positive, torch.zeros(101), cfg, generator) for _ in range(draws)]
    )
    assert bool((chosen.sum(dim=1) == 10).all())
    return (chosen.float() @ distance).sum().item() / chosen.sum().item()


def test_similar_picks_nearer_and_dissimilar_farther_candidates_than_random():
    similar, random, dissimilar = (_mean_distance(s) for s in ("similar", "random", "dissimilar"))
    # 3000 draws each: the standard error of each mean is ~0.015; the gaps are many times that
    assert similar < random - 0.1
    assert dissimilar > random + 0.1


def test_random_is_uniform_over_the_kept_candidates():
    pool, positive = _pool(), torch.tensor([0])
    cfg = NegativesCfg(strategy="random", num_negatives=5)
    generator = torch.Generator().manual_seed(2)
    counts = sum(
        select_negatives(pool, positive, torch.zeros(101), cfg, generator)[0].float()
        for _ in range(2000)
    )
    kept = counts > 0
    assert kept.sum() == 100 - 2 * 2  # 100 candidates, 2 dropped at each end
    expected = 2000 * 5 / 96
    chi2 = ((counts[kept] - expected) ** 2 / expected).sum().item()
    assert chi2 < 140  # 95 degrees of freedom: P(chi2 > 140) < 0.002 for a uniform draw


@pytest.mark.parametrize("strategy", ["similar", "dissimilar", "random"])
def test_cans_drops_candidates_outside_the_95_percent_interval(strategy):
    pool = _pool()
    pool[1] = pool[0] + 1e-4  # a near-duplicate of anchor 0
    pool[2] = pool[0] + 100.0  # a trivially easy one
    positive = torch.tensor([0])
    distance = torch.cdist(pool[:1], pool)[0]
    distance[0] = float("nan")
    order = distance[1:].argsort() + 1  # candidates nearest first
    dropped = torch.cat([order[:2], order[-2:]])  # floor(0.025 * 100) = 2 at each end
    assert {1, 2} <= set(dropped.tolist())
    cfg = NegativesCfg(strategy=strategy, num_negatives=95)
    generator = torch.Generator().manual_seed(3)
    for _ in range(50):
        chosen = select_negatives(pool, positive, torch.zeros(101), cfg, generator)[0]
        assert not chosen[dropped].any()
        assert chosen.sum() == 95  # every other candidate is available
    everything = select_negatives(
        pool, positive, torch.zeros(101), NegativesCfg(strategy, 96, 0.95)
    )
    assert everything.sum() == 96


@pytest.mark.parametrize("strategy", ["similar", "dissimilar", "random", "minibatch", "sequence"])
def test_the_positive_is_never_a_negative(strategy):
    pool = _pool(24, 8)
    pool[5] = pool[3]  # an exact duplicate of another anchor's embedding
    positive = torch.arange(24)
    sequence = torch.arange(6).repeat_interleave(4)
    cfg = NegativesCfg(strategy=strategy, num_negatives=30)
    generator = torch.Generator().manual_seed(4)
    for _ in range(20):
        chosen = select_negatives(pool, positive, sequence, cfg, generator)
        assert not chosen.diagonal().any()
        assert bool(chosen.any(dim=1).all())


def test_baselines_use_the_whole_batch_or_the_same_sequence():
    pool = _pool(12, 4)
    positive = torch.tensor([0, 7])
    sequence = torch.arange(3).repeat_interleave(4)  # 3 sequences of 4 clips
    everything = select_negatives(pool, positive, sequence, NegativesCfg("minibatch"))
    assert everything.sum(dim=1).tolist() == [11, 11]
    same = select_negatives(pool, positive, sequence, NegativesCfg("sequence"))
    assert same[0].nonzero().flatten().tolist() == [1, 2, 3]
    assert same[1].nonzero().flatten().tolist() == [4, 5, 6]


def test_normalised_distances_span_zero_to_one_over_candidates():
    pool = _pool(20, 3)
    positive = torch.tensor([4, 9])
    candidates = torch.ones(2, 20, dtype=torch.bool)
    candidates[0, 4] = candidates[1, 9] = False
    d = normalised_distances(pool, positive, candidates)
    for row in range(2):
        values = d[row][candidates[row]]
        assert values.min().item() == pytest.approx(0.0, abs=1e-6)
        assert values.max().item() == pytest.approx(1.0, abs=1e-6)


def test_central_interval_keeps_at_least_one_candidate():
    distance = torch.tensor([[0.0, 1.0, 0.5]])
    candidates = torch.tensor([[False, True, True]])
    assert central_interval(distance, candidates, 0.5).tolist() == [[False, True, True]]
    assert central_interval(distance, candidates, 0.01).sum() >= 1


def test_the_config_names_every_sampler():
    from avpet.pretrain.config import STRATEGIES
    from avpet.pretrain.negatives import SAMPLERS

    assert sorted(STRATEGIES) == sorted(SAMPLERS)

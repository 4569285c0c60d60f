"""The table of negative samplers for masked embedding prediction; CANS is three of its five.

Every sampler answers the same question: for each anchor (the CNN embedding a masked position must
be told apart from), which candidates of the pool are its negatives? The pool is the mini-batch's
CNN embeddings of one modality, gathered across ranks; anchor ``n`` is pool row ``positive[n]``.
The answer is a boolean mask ``[N, P]``, so strategies that use every candidate (``minibatch``)
and those that draw a few (CANS) feed the same loss. A new sampler is one function with the
signature of :data:`Sampler` and one entry in :data:`SAMPLERS`.

CANS (content-aware negative sampling): ℓ2 distances from the anchor to every other candidate are
min-max normalised to [0, 1]; candidates outside the central ``interval`` of that distribution
(the nearest and the farthest ⌊(1 - interval)/2 · n⌋ of the n candidates: near-duplicates and
trivially easy ones) are dropped; ``num_negatives`` are drawn without replacement with probability
proportional to ``1 - d`` (``similar``), ``d`` (``dissimilar``) or uniformly (``random``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .config import NegativesCfg

_EPS = 1e-12

Sampler = Callable[[Tensor, Tensor, Tensor, Tensor, NegativesCfg, "torch.Generator | None"], Tensor]
"""``(pool [P, C], positive [N], sequence [P], candidates bool [N, P], cfg, generator)`` → the
negatives, bool [N, P] (a subset of ``candidates``)."""


def minibatch(pool, positive, sequence, candidates, cfg, generator):
    """Every other candidate of the mini-batch."""
    return candidates


def same_sequence(pool, positive, sequence, candidates, cfg, generator):
    """The other positions of the anchor's own sequence."""
    return candidates & (sequence[positive][:, None] == sequence[None, :])


def content_aware(weigh: Callable[[Tensor], Tensor]) -> Sampler:
    """A CANS sampler that draws with probability ``weigh(d)`` of the normalised distance ``d``
    among the candidates of the central interval."""

    def sample(pool, positive, sequence, candidates, cfg, generator):
        distance = normalised_distances(pool, positive, candidates)
        kept = candidates & central_interval(distance, candidates, cfg.interval)
        weight = weigh(distance).clamp_min(_EPS) * kept
        return draw_without_replacement(weight, cfg.num_negatives, generator)

    return sample


SAMPLERS: dict[str, Sampler] = {
    "similar": content_aware(lambda d: 1.0 - d),  # the paper's best
    "dissimilar": content_aware(lambda d: d),
    "random": content_aware(torch.ones_like),
    "minibatch": minibatch,
    "sequence": same_sequence,
}


@torch.no_grad()
def select_negatives(
    pool: Tensor,
    positive: Tensor,
    sequence: Tensor,
    cfg: NegativesCfg,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Negatives per anchor as a mask, by the sampler ``cfg.strategy`` of :data:`SAMPLERS`.

    Args:
        pool: candidate embeddings [P, C].
        positive: pool index of each anchor (its own embedding, never a negative) [N].
        sequence: sequence id of each candidate [P] (``sequence`` strategy keeps same-id ones).
        cfg: strategy, number of negatives and kept interval.
        generator: random source for the draws (default: the global one of ``pool``'s device).

    Returns:
        bool [N, P], True where candidate p is a negative of anchor n.
    """
    candidates = torch.ones(positive.shape[0], pool.shape[0], dtype=torch.bool, device=pool.device)
    candidates[torch.arange(positive.shape[0], device=pool.device), positive] = False
    return SAMPLERS[cfg.strategy](pool, positive, sequence, candidates, cfg, generator)


def normalised_distances(pool: Tensor, positive: Tensor, candidates: Tensor) -> Tensor:
    """ℓ2 distances anchor → pool [N, P], min-max scaled to [0, 1] over each anchor's candidates
    (entries outside ``candidates`` are meaningless)."""
    distance = torch.cdist(pool[positive].float(), pool.float())
    low = distance.masked_fill(~candidates, torch.inf).amin(dim=1, keepdim=True)
    high = distance.masked_fill(~candidates, -torch.inf).amax(dim=1, keepdim=True)
    return ((distance - low) / (high - low).clamp_min(_EPS)).clamp(0.0, 1.0)


def central_interval(distance: Tensor, candidates: Tensor, interval: float) -> Tensor:
    """bool [N, P]: candidates whose distance rank lies in the central ``interval`` fraction.

    Of n candidates, the ⌊(1 - interval)/2 · n⌋ nearest and as many farthest are dropped (ties
    broken by index), so at least one candidate always stays.
    """
    count = candidates.sum(dim=1, keepdim=True)
    drop = torch.floor(count * (1.0 - interval) / 2.0)
    order = distance.masked_fill(~candidates, torch.inf).argsort(dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return (rank >= drop) & (rank < count - drop)


def draw_without_replacement(
    weight: Tensor, k: int, generator: torch.Generator | None = None
) -> Tensor:
    """Draw ``k`` columns per row with probability proportional to ``weight`` [N, P] (≥ 0),
    without replacement (Gumbel top-k); rows with fewer than ``k`` positive weights get all of
    them. Returns bool [N, P]."""
    uniform = torch.rand(weight.shape, generator=generator, device=weight.device)
    keys = weight.log() - torch.log(-torch.log(uniform.clamp_min(_EPS)))
    keys = keys.masked_fill(weight <= 0, -torch.inf)
    top = keys.topk(min(k, weight.shape[1]), dim=1).indices
    chosen = torch.zeros_like(weight, dtype=torch.bool).scatter_(1, top, True)
    return chosen & (weight > 0)

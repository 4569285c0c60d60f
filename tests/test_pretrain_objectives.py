"""MEP and CPP losses against hand-computed values; masking and CPP pairing."""

from __future__ import annotations

import pytest
import torch

from avpet.pretrain.masking import choose_masked, corrupt
from avpet.pretrain.objectives import CPPHead, MEPHead, cpp_loss, mep_loss, mismatch_pairs


def test_mep_loss_matches_hand_computation():
    scores = torch.tensor([[2.0, 1.0, 0.5, -1.0], [0.0, 3.0, 1.0, 2.0]])
    positive = torch.tensor([0, 1])
    negatives = torch.tensor([[False, True, False, True], [True, False, False, False]])
    # row 0: -log(e^2 / (e^2 + e^1 + e^-1)) = 0.349012; row 1: -log(e^3 / (e^3 + e^0)) = 0.048587
    assert mep_loss(scores, positive, negatives).item() == pytest.approx(0.198800, abs=1e-6)


def test_mep_loss_ignores_unselected_candidates():
    scores = torch.tensor([[1.0, 0.0, 50.0]])
    loss = mep_loss(scores, torch.tensor([0]), torch.tensor([[False, True, False]]))
    # only the negative at column 1 counts: -log(e / (e + 1)) = 0.313262
    assert loss.item() == pytest.approx(0.313262, abs=1e-6)


def test_mep_head_is_bilinear_in_ffn_output_and_embedding():
    torch.manual_seed(0)
    head = MEPHead(dim=6, embed_dim=4)
    outputs, embeddings = torch.randn(3, 6), torch.randn(5, 4)
    scores = head(outputs, embeddings)
    assert scores.shape == (3, 5)
    w = head.critic.weight / 6**0.5  # W, stored as sqrt(D) * W
    expected = torch.stack(
        [torch.stack([head.ffn(o) @ (w @ x) for x in embeddings]) for o in outputs]
    )
    torch.testing.assert_close(scores, expected)
    # doubling an embedding doubles its scores (linear in x, no bias)
    torch.testing.assert_close(head(outputs, 2 * embeddings), 2 * scores)


def test_cpp_loss_matches_hand_computation():
    logits = torch.tensor([2.0, -1.0, 0.0])
    matched = torch.tensor([True, False, True])
    # mean of log(1 + e^-2), log(1 + e^-1), log(2)
    assert cpp_loss(logits, matched).item() == pytest.approx(0.377779, abs=1e-6)


def test_cpp_head_reads_both_bos_summaries():
    torch.manual_seed(0)
    head = CPPHead(dim=8)
    v, a = torch.randn(4, 8), torch.randn(4, 8)
    logits = head(v, a)
    assert logits.shape == (4,)
    assert not torch.allclose(head(v, a.flip(0)), logits)


def test_mismatch_pairs_never_pairs_a_swapped_sequence_with_itself():
    generator = torch.Generator().manual_seed(0)
    source, matched = mismatch_pairs(batch=6, prob=0.5, generator=generator)
    for _ in range(200):
        source, matched = mismatch_pairs(6, 0.5, generator)
        index = torch.arange(6)
        assert torch.equal(source[matched], index[matched])
        assert bool((source[~matched] != index[~matched]).all())
    counts = torch.stack([mismatch_pairs(6, 0.3, generator)[1] for _ in range(500)]).float()
    assert 1 - counts.mean().item() == pytest.approx(0.3, abs=0.04)


def test_choose_masked_hides_the_configured_count_per_sequence():
    masked = choose_masked(
        batch=50, length=10, ratio=0.2, generator=torch.Generator().manual_seed(0)
    )
    assert masked.shape == (50, 10)
    assert bool((masked.sum(dim=1) == 2).all())
    assert bool((choose_masked(7, 4, 0.05).sum(dim=1) == 1).all())  # never zero


def test_corrupt_replaces_only_masked_positions_in_the_configured_proportions():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(40, 50, 8)
    masked = torch.zeros(40, 50, dtype=torch.bool)
    masked[:, ::2] = True
    mask_token = torch.full((8,), 7.0)
    out = corrupt(tokens, masked, mask_token, (0.8, 0.1, 0.1), generator)
    assert torch.equal(out[~masked], tokens[~masked])
    changed = out[masked]
    is_mask = (changed == 7.0).all(dim=-1).float().mean().item()
    unchanged = (changed == tokens[masked]).all(dim=-1).float().mean().item()
    assert is_mask == pytest.approx(0.8, abs=0.03)
    # "unchanged" also catches random draws that picked the token itself (1 in 2000)
    assert unchanged == pytest.approx(0.1, abs=0.03)
    flat = tokens.reshape(-1, 8)
    others = changed[((changed != 7.0).any(-1)) & ((changed != tokens[masked]).any(-1))]
    assert len(others) > 0
    assert all((flat == row).all(-1).any() for row in others)  # random ones are batch tokens

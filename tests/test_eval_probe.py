"""The logistic-regression probe and the retrieval metrics, on data with known answers."""

import numpy as np
import pytest
import torch

from avpet.errors import ConfigError
from avpet.eval.probe import ProbeCfg, choose_c, probe_accuracy
from avpet.eval.retrieval import recall_at_k, retrieval_metrics, similarity


def blobs(n, classes=4, dim=8, spread=0.3, seed=0):
    """``n`` points around ``classes`` fixed centres; ``seed`` draws the points only."""
    centres = np.random.default_rng(123).normal(size=(classes, dim)) * 3
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return centres[y] + spread * rng.normal(size=(n, dim)), y


def test_probe_separates_clusters_and_not_noise():
    x, y = blobs(120)
    xt, yt = blobs(60, seed=1)
    assert probe_accuracy(x, y, xt, yt) > 0.95
    rng = np.random.default_rng(2)
    shuffled = rng.permutation(y)  # labels unrelated to the features
    assert probe_accuracy(x, shuffled, xt, yt) < 0.6


def test_probe_uses_only_training_labels():
    x, y = blobs(80)
    xt, yt = blobs(40, seed=1)
    # test labels renamed to classes the probe never saw: nothing can be right
    assert probe_accuracy(x, y, xt, yt + 10) == 0.0


def test_choose_c_picks_a_candidate_and_skips_cv_for_one():
    x, y = blobs(80, classes=2)
    keep = (y == 0) | (np.arange(80) % 8 == 1)  # 4:1 imbalance
    x, y = x[keep], y[keep]
    # a tiny C shrinks the weights to ~0 and predicts the majority class; C=1 separates
    assert choose_c(x, y, ProbeCfg(cs=(1e-6, 1.0))) == 1.0
    assert choose_c(x, y, ProbeCfg(cs=(0.5,))) == 0.5


@pytest.mark.parametrize("kwargs", [{"cs": ()}, {"cs": (0.0,)}, {"folds": 1}, {"max_iter": 0}])
def test_probe_cfg_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        ProbeCfg(**kwargs)


def test_probe_rejects_one_class_and_length_mismatch():
    x, _ = blobs(10)
    with pytest.raises(ConfigError, match="two classes"):
        probe_accuracy(x, np.zeros(10), x, np.zeros(10))
    with pytest.raises(ConfigError, match="length"):
        probe_accuracy(x, np.arange(9) % 2, x, np.arange(10) % 2)


def test_recall_at_k_on_known_ranks():
    # match of query 0 ranks first, query 1 second, query 2 third
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.7, 0.6, 0.2]])
    assert recall_at_k(scores, (1, 2, 3)) == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 1.0})


def test_ties_count_against_the_query():
    assert recall_at_k(torch.ones(4, 4), (1, 3)) == {1: 0.0, 3: 0.0}


def test_retrieval_of_paired_and_of_unrelated_embeddings():
    gen = torch.Generator().manual_seed(0)
    visual = torch.randn(200, 32, generator=gen)
    audio = visual + 0.1 * torch.randn(200, 32, generator=gen)
    paired = retrieval_metrics(audio, visual)
    assert paired["a2v_r1"] > 0.95 and paired["v2a_r1"] > 0.95
    unrelated = retrieval_metrics(torch.randn(200, 32, generator=gen), visual)
    assert unrelated["a2v_r1"] < 0.05 and unrelated["a2v_r5"] < 0.12  # chance 0.005 / 0.025


def test_similarity_ignores_a_shared_offset():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 16, generator=gen)
    assert torch.allclose(similarity(x + 100.0, x), similarity(x, x), atol=1e-4)
    assert torch.allclose(similarity(x, x).diagonal(), torch.ones(50, dtype=torch.float64))

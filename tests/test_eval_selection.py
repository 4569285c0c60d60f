"""``--level select``: levels are chosen on training-split scores only, never on the test split."""

import numpy as np

from avpet.eval import features, selection
from avpet.eval.probe import ProbeCfg, ProbeScore, cross_validate, probe_score


def blobs(n, seed):
    """``n`` points around 3 well-separated centres, labels cycling 0, 1, 2."""
    y = np.arange(n) % 3
    return np.eye(3)[y] * 5 + np.random.default_rng(seed).normal(size=(n, 3)), y


def test_level_with_the_best_validation_wins_even_when_its_test_is_worse():
    per_level = {
        "cnn": {"visual_digit_acc": ProbeScore(0.9, 0.2), "audio_digit_acc": ProbeScore(0.1, 0.9)},
        "unimodal": {
            "visual_digit_acc": ProbeScore(0.5, 0.8),
            "audio_digit_acc": ProbeScore(0.6, 0.3),
        },
    }
    headline, chosen = selection.select_levels(per_level)
    assert chosen == {"visual_digit_acc": "cnn", "audio_digit_acc": "unimodal"}
    assert headline == {"visual_digit_acc": 0.2, "audio_digit_acc": 0.3}
    assert selection.held_out_accuracies(per_level)["unimodal"] == {
        "visual_digit_acc": 0.8,
        "audio_digit_acc": 0.3,
    }


def test_probe_score_reports_the_inner_cv_of_its_chosen_c():
    x, y = blobs(90, seed=0)
    xt, yt = blobs(30, seed=1)
    cfg = ProbeCfg(cs=(1e-6, 1.0))
    score = probe_score(x, y, xt, yt, cfg)
    assert score.validation == max(cross_validate(x, y, cfg).values()) > 0.9
    assert score.test > 0.9
    noise = probe_score(x, np.random.default_rng(0).permutation(y), xt, yt, ProbeCfg(cs=(1.0,)))
    assert noise.validation < 0.7  # one C is still cross-validated


def test_retrieval_is_chosen_among_shared_space_levels():
    avbert = features.load_model("avpet_small_mid_lowrank", False, seed=0)
    assert selection.shared_levels(avbert) == ("tokens", "unimodal", "multimodal", "bos")
    r1 = {"tokens": 0.3, "unimodal": 0.5, "multimodal": 0.1, "bos": 0.0, "cnn": 1.0}
    assert selection.select_retrieval_level(avbert, r1.get) == "unimodal"
    peer = features.load_model("mmv_small_tsm_fac", False, seed=0)
    assert selection.shared_levels(peer) == ("joint",)
    assert features.check_level(peer, "select") == "select"

"""GRID benchmark: features at every level, probes on training clips only, retrieval, the CLI."""

import json

import numpy as np
import pytest
import torch

from avpet.cli import main
from avpet.data.config import resolve_data_config
from avpet.data.grid import PROBE_CLIPS, PROBED, split_clips, subset
from avpet.data.transforms import create_transform
from avpet.errors import ConfigError
from avpet.eval import features, grid, probe
from avpet.eval.features import load_model

PEERS = ("vatt_small", "mmv_small_tsm_fac")


@pytest.mark.slow
def test_random_init_end_to_end_and_probe_never_sees_test(grid_clips, monkeypatch, tmp_path):
    """A random-init model through the real pipeline: metric ranges, retrieval near chance, and
    every probe fit sees training rows only; then the same clips with ``--level select``."""
    train, test = split_clips(grid_clips, 0.8)
    train, test = subset(train, 20), subset(test, 16)
    fitted = []
    real_fit = probe._fit

    def spy(x, y, c, cfg):
        fitted.append(np.asarray(x))
        return real_fit(x, y, c, cfg)

    monkeypatch.setattr(probe, "_fit", spy)
    model = load_model("avpet_small_mid_lowrank", False, seed=0)
    transform = create_transform(resolve_data_config(model, backend="pyav"))
    one_c = probe.ProbeCfg(cs=(1.0,))
    metrics, scores = grid.evaluate(
        model, train, test, transform, "unimodal", one_c, all_levels=True, cache=tmp_path
    )
    for key in ("visual", "audio"):
        for slot in PROBED:
            assert 0.0 <= metrics[f"{key}_{slot}_acc"] <= 1.0
            assert metrics["levels"]["cnn"][f"{key}_{slot}_acc"] >= 0.0
    assert set(metrics["levels"]) == {"cnn", "tokens", "unimodal", "multimodal", "bos"}
    assert scores.shape == (16, 16)
    assert len(list(tmp_path.glob("*/*.safetensors"))) == 36  # every sequence, decoded once
    # chance is 1/16 for R@1: unrelated random towers must not retrieve
    assert metrics["a2v_r1"] <= 0.25 and metrics["v2a_r1"] <= 0.25
    assert metrics["a2v_r5"] <= 0.7
    # 5 levels x 2 modalities x 3 words fits, each on the 20 training clips only
    assert len(fitted) == 30 and all(len(x) == 20 for x in fitted)

    fitted.clear()
    selected, _ = grid.evaluate(model, train, test, transform, "select", one_c, cache=tmp_path)
    assert selected["level"] == "select" and set(selected["levels"]) == set(metrics["levels"])
    assert selected["selected"]["retrieval"] != "cnn"
    for name, level in selected["selected"].items():
        if name != "retrieval":
            assert selected[name] == selected["levels"][level][name]
    # the inner CV (3 folds of the training clips) and the final fit: still training rows only
    assert len(fitted) == 30 * 4 and all(len(x) <= 20 for x in fitted)


@pytest.mark.slow
def test_cli_baseline_on_a_subset_is_above_chance(data_dir, capsys):
    grid_dir = data_dir / "grid_s1"
    rc = main(f"eval grid --baseline --data {grid_dir} --limit 40 --probe-c 1.0 --json".split())
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_train"] == result["n_test"] == 40
    assert result["audio_color_acc"] > 0.7  # chance 0.25
    assert result["audio_digit_acc"] > 0.4  # chance 0.1
    assert 0.0 <= result["visual_color_acc"] <= 1.0  # 2880 pixels from 40 clips: near chance


@pytest.mark.slow
def test_cli_model_prints_json_last_and_plots(data_dir, tmp_path, capsys):
    png = tmp_path / "grid_similarity.png"
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"mine")
    refused = f"--data {data_dir / 'grid_s1'} --plot {taken}"
    assert main(["eval", "grid", "--model", "avpet_small_late_lowrank", *refused.split()]) == 3
    assert "--overwrite" in capsys.readouterr().err and taken.read_bytes() == b"mine"
    args = f"--data {data_dir / 'grid_s1'} --limit 10 --probe-c 1.0 --plot {png} --json"
    rc = main(["eval", "grid", "--model", "avpet_small_late_lowrank", *args.split()])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    expected = {f"{m}_{s}_acc" for m in ("visual", "audio") for s in PROBED}
    assert expected | {"a2v_r1", "a2v_r5", "v2a_r1", "level", "machine"} <= set(result)
    assert result["level"] == "unimodal" and result["pretrained"] is False
    assert all(0.0 <= result[k] <= 1.0 for k in expected)
    pytest.importorskip("matplotlib")
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", PEERS)
def test_cli_peer_gives_the_avbert_metrics_at_its_default_level(name, data_dir, capsys):
    args = f"--data {data_dir / 'grid_s1'} --limit 6 --probe-c 1.0 --all-levels --json"
    assert main(["eval", "grid", "--model", name, *args.split()]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = {f"{m}_{s}_acc" for m in ("visual", "audio") for s in PROBED}
    retrieval = {"a2v_r1", "a2v_r5", "v2a_r1"}
    assert expected | retrieval | {"chance", "level", "levels", "machine"} <= set(result)
    assert result["model"] == name and result["n_train"] == result["n_test"] == 6
    assert result["level"] == "joint"  # the peer's default: its video-audio joint space
    assert set(result["levels"]) == {"pooled", "joint"}
    assert result["levels"]["joint"] == {k: result[k] for k in expected}
    assert all(0.0 <= result[k] <= 1.0 for k in expected | retrieval)
    assert all(0.0 <= v <= 1.0 for lvl in result["levels"].values() for v in lvl.values())


@pytest.mark.parametrize("name", PEERS)
def test_peer_levels_are_per_clip_in_the_sequence_layout(name):
    """A peer's ``[B, T, ...]`` sequences give ``pooled`` and ``joint`` ``[B, T, C]``, each clip
    encoded alone; the levels, default and GRID window are the peer's."""
    model = features.load_model(name, False, seed=0)
    spec = model.pretrained_cfg.input
    assert spec.num_clips == 1  # GRID still reads the 4 word clips color..digit
    transform = grid.create_eval_transform(model, backend="pyav")
    assert transform.cfg.input.num_clips == PROBE_CLIPS == 4
    inputs = {
        "visual": torch.rand(2, 3, 3, spec.frames, spec.size, spec.size),
        "audio": torch.randn(2, 3, *spec.audio_shape[1:]),
    }
    for modality, x in inputs.items():
        levels = features.modality_levels(model, modality, x)
        assert set(levels) == {"pooled", "joint"}
        peer_modality = {"visual": "video", "audio": "audio"}[modality]
        with torch.no_grad():  # clip (1, 2) as a sample of its own
            alone = model.embed_clips(**{peer_modality: x[1, 2:3]})
            pooled = alone[f"{peer_modality}_pooled"]
            joint = alone[f"{peer_modality}_va"]
        assert levels["pooled"].shape == (2, 3, pooled.shape[-1])
        assert levels["joint"].shape == (2, 3, model.cfg.spaces.va_dim)
        torch.testing.assert_close(levels["pooled"][1, 2], pooled[0])
        torch.testing.assert_close(levels["joint"][1, 2], joint[0])
    assert features.available_levels(model) == ("pooled", "joint")
    assert features.check_level(model, "auto") == "joint"
    with pytest.raises(ConfigError, match="choose from"):
        features.check_level(model, "unimodal")


def test_peer_without_joint_spaces_defaults_to_pooled():
    model = features.load_model("mmv_small_tsm_fac", False, seed=0)
    model.spaces = None  # as spaces kind 'none'
    assert features.available_levels(model) == ("pooled",)
    assert model.default_level == "pooled"
    spec = model.pretrained_cfg.input
    x = torch.randn(1, 2, *spec.audio_shape[1:])
    assert set(features.modality_levels(model, "audio", x)) == {"pooled"}


def test_avbert_transform_and_levels_are_unchanged():
    model = features.load_model("avpet_small_mid_lowrank", False, seed=0)
    transform = grid.create_eval_transform(model, backend="pyav")
    assert transform.cfg == resolve_data_config(model, backend="pyav")
    assert features.available_levels(model) == ("cnn", "tokens", "unimodal", "multimodal", "bos")
    assert model.default_level == "unimodal"


def test_cli_errors_name_the_problem(tmp_path, capsys):
    rc = main(["eval", "grid", "--model", "avpet_small_mid_lowrank", "--data", str(tmp_path)])
    assert rc == 3
    assert f"{tmp_path / 'video'}: no such folder" in capsys.readouterr().err
    assert main(["eval", "grid", "--model", "x", "--train", str(tmp_path)]) == 3
    assert "--train needs --test" in capsys.readouterr().err
    assert main(["eval", "grid", "--data", str(tmp_path)]) == 3
    assert "--model NAME is required" in capsys.readouterr().err


def test_retrieval_embedding_gives_the_mean_clip_cosine():
    gen = np.random.default_rng(0)
    feats = {"unimodal": gen.normal(size=(6, 4, 8)), "bos": gen.normal(size=(6, 8))}
    emb = grid.retrieval_embedding(feats, "unimodal")
    assert emb.shape == (6, 32)
    x = feats["unimodal"] - feats["unimodal"].mean(0)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    mean_cosine = np.einsum("itc,jtc->ij", x, x) / 4
    np.testing.assert_allclose((emb @ emb.T).numpy() / 4, mean_cosine, atol=1e-12)
    assert grid.retrieval_embedding(feats, "bos").shape == (6, 8)

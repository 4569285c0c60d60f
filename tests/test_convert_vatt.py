"""Official VATT checkpoints into avpet: parity with the official TF2 code on a checkpoint it
wrote (``tests/fixtures/vatt_official``), key placement, and the registry's exact architectures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import first_hour

import avpet
from avpet.cli import main
from avpet.convert import vatt
from avpet.convert.parity import replay_vatt
from avpet.errors import CheckpointError

RECORD = Path(__file__).parent / "fixtures" / "vatt_official"
SAMPLE = Path(__file__).parents[1] / "examples" / "grid_s1_bbaf2n.mp4"
CLASSIFIER = RECORD.with_name("vatt_official_classifier")
UNIFIED = RECORD.with_name("vatt_official_unified")
GRIDS = [RECORD.with_name("vatt_official_grid"), RECORD.with_name("vatt_official_grid_unified")]
BASE = "_base_layer/vid_backbone/_base/"


@pytest.fixture(scope="module")
def official() -> dict[str, np.ndarray]:
    return vatt.load_official(RECORD / "ckpt-1")


def test_every_output_matches_the_official_code():
    diffs = replay_vatt(RECORD)
    assert set(diffs) == {
        f"{m}_{kind}" for m in ("video", "audio", "text") for kind in ("pooled", "tokens")
    } | {"video_va", "video_vt", "audio_va", "text_vt"}
    assert max(diffs.values()) <= 1e-4, diffs


def test_a_fine_tuned_classifier_matches_the_official_code():
    """The released fine-tuning layout: ``_base/`` (no backbone prefix) and ``_ops/cls/``."""
    diffs = replay_vatt(CLASSIFIER)
    assert set(diffs) == {"video_pooled", "logits"} and max(diffs.values()) <= 1e-4, diffs
    cfg = vatt.infer_cfg(vatt.load_official(CLASSIFIER / "ckpt-1"))
    assert cfg.modalities == ("video",) and cfg.num_classes == 5 and cfg.spaces.kind == "none"


def test_the_modality_agnostic_model_matches_the_official_code():
    """``ut_fac``: one Transformer, per-modality tokenizers and projections in dicts."""
    diffs = replay_vatt(UNIFIED)
    assert len(diffs) == 10 and max(diffs.values()) <= 1e-4, diffs
    cfg = vatt.infer_cfg(vatt.load_official(UNIFIED / "ckpt-1"))
    assert (
        cfg.modality_agnostic
        and cfg.post_dim == 12
        and cfg.modalities
        == (
            "video",
            "audio",
            "text",
        )
    )


@pytest.mark.parametrize("record", GRIDS, ids=["specific", "agnostic"])
def test_other_grids_than_the_tables_match_the_official_spline(record):
    """Video, audio (and VATT-MA text) of other sizes than the position tables: avpet reads the
    tables through the official order-3 spline, and drops what fills no patch as it does."""
    about = json.loads((record / "official.json").read_text())
    assert about["video"] != about["native_video"] and about["samples"] != about["native_samples"]
    diffs = replay_vatt(record)
    assert len(diffs) == 10 and max(diffs.values()) <= 1e-4, diffs


def test_another_interpolation_is_caught(monkeypatch):
    """The record tells splines apart: linear resampling of the same tables misses it widely."""
    from avpet.layers import patch_embed

    def linear(table, target):
        if target == table.shape[0]:
            return table
        resized = torch.nn.functional.interpolate(table.T[None], size=target, mode="linear")
        return resized[0].T

    monkeypatch.setattr(patch_embed, "resample_table", linear)
    diffs = replay_vatt(GRIDS[0])
    assert diffs["video_tokens"] > 1e-2 and diffs["audio_tokens"] > 1e-2, diffs


def test_optimizer_slots_and_bookkeeping_are_skipped(official):
    assert official and all(k.startswith("model/") and ".OPTIMIZER_SLOT" not in k for k in official)
    assert not any(k.startswith(("model/optimizer", "save_counter")) for k in official)


def test_every_official_tensor_is_used_once_and_placed(official):
    state = vatt.convert_state_dict(official, "fixture")
    model = avpet.models.vatt.VATT(vatt.infer_cfg(official)).eval()
    ours = model.state_dict()
    assert set(state) == set(ours)
    bn_counters = [k for k in state if k.endswith("num_batches_tracked")]
    fused = sum(k.endswith("attn.qkv.weight") or k.endswith("attn.qkv.bias") for k in state)
    # q, k, v (kernels and biases) fold into one qkv each; BN counters exist only in avpet
    assert len(official) == len(state) - len(bn_counters) + 2 * fused
    q = official[f"model/{BASE}tx/layers/1/mha/q/kernel"]
    v_bias = official[f"model/{BASE}tx/layers/1/mha/v/bias"]
    qkv = state["transformers.video.blocks.1.attn.qkv.weight"]
    assert torch.equal(qkv[: q.shape[1]], torch.from_numpy(q.T))
    assert torch.equal(
        state["transformers.video.blocks.1.attn.qkv.bias"][-v_bias.size :], torch.from_numpy(v_bias)
    )
    bias = official[
        "model/_base_layer/txt_backbone/base_lm/layers/0/self_attention/attention/"
        "relative_attention_bias/embeddings"
    ]
    assert torch.equal(state["inputs.text.relative_bias.bias.weight"], torch.from_numpy(bias))
    mean = official["model/_head_layer/_bridge_heads/0/hid_to_va/pre_bn/moving_mean"]
    assert torch.equal(state["spaces.video_va.1.running_mean"], torch.from_numpy(mean))


def test_unknown_or_foreign_variables_are_refused(official):
    extra = dict(official, **{f"model/{BASE}mask_embedding": np.zeros(8, np.float32)})
    with pytest.raises(CheckpointError, match="ckpt: variables with no avpet.*mask_embedding"):
        vatt.convert_state_dict(extra, "ckpt")
    stray = dict(official, **{"model/some_other_layer/kernel": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match="outside any VATT module"):
        vatt.convert_state_dict(stray, "ckpt")


def test_an_unregistered_architecture_is_a_clear_cli_error(tmp_path, capsys):
    out = tmp_path / "repo"
    code = main(["convert-official", "vatt", str(RECORD / "ckpt-1.index"), "--out", str(out)])
    assert code != 0 and not out.exists()
    assert "no registered VATT has this checkpoint's architecture" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, trainable",
    [
        ("vatt_bbs", 193_877_292),
        ("vatt_mbs", 260_905_772),
        ("vatt_lbs", 412_060_460),
        ("vatt_ma_medium", 162_990_336),
    ],
)
def test_registered_pretraining_models_have_the_official_counts(name, trainable):
    """Trainable totals of the official code (SPEC §3), counted on avpet's modules."""
    with torch.device("meta"):
        model = avpet.create_model(name)
    assert model.parameter_counts()["trainable"] == trainable
    assert vatt.registered_name(model.cfg) == name


@pytest.fixture
def fixture_registered(official, monkeypatch):
    """The fixture's architecture registered (as the released sizes are) for the CLI round trip."""
    from avpet import registry
    from avpet.config import PretrainedCfg
    from avpet.models import vatt as vatt_model

    name, cfg = "vatt_fixture_tiny", vatt.infer_cfg(official)
    # what the record's grid holds: 4 frames of 16² (patches 2×8×8), 768 samples (6 × 128);
    # fed as the official loaders feed the released sizes (12.5 fps, DMVR resize, [-1, 1])
    spec = replace(vatt_model.PAPER_INPUT, frames=4, size=16, test_size=16)
    default = PretrainedCfg(input=replace(spec, sample_rate=4800, audio_seconds=0.16))
    assert default.input.clip_samples == 768
    monkeypatch.setitem(vatt_model.VARIANTS, name, (cfg, default))
    monkeypatch.setitem(registry._entries, name, registry.ModelEntry(vatt_model.VATT, cfg))
    monkeypatch.setitem(registry._pretrained_cfgs, name, {"": default})
    return name


def test_cli_writes_a_hub_repo_that_loads_back(fixture_registered, tmp_path, capsys):
    out = tmp_path / "repo"
    assert main(["convert-official", "vatt", str(RECORD / "ckpt-1"), "--out", str(out)]) == 0
    assert f"local-dir:{out}" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["model_name"] == fixture_registered
    assert config["pretrained_cfg"]["license"] == "apache-2.0"
    model = avpet.create_model(f"local-dir:{out}", pretrained=True).eval()
    assert model.model_name == fixture_registered
    data = np.load(RECORD / "parity.npz")
    with torch.no_grad():  # the contract's sequences: one clip per sample here
        features = model.forward_features(audio=torch.from_numpy(data["audio"])[:, None, :, 0])
    pooled = features["audio_pooled"][:, 0].numpy()
    assert np.abs(pooled - data["out_audio_pooled"]).max() <= 1e-4


def test_every_released_checkpoint_has_an_exact_architecture_and_a_card():
    """The official README's checkpoints: 3 + 1 pretrained, 13 video and 2 audio classifiers."""
    from avpet.convert.cards import VATT_CARDS

    released = (
        {"vatt_bbs", "vatt_mbs", "vatt_lbs", "vatt_ma_medium"}
        | {
            f"vatt_{size}_{data}"
            for size in ("base", "medium", "large", "ma_medium")
            for data in ("k400", "k600", "mit")
        }
        | {"vatt_large_k700", "vatt_audio_base_audioset", "vatt_ma_audio_medium_audioset"}
    )
    assert len(released) == 19
    for name in released:
        with torch.device("meta"):
            model = avpet.create_model(name)
        assert vatt.registered_name(model.cfg) == name
        assert name in VATT_CARDS, name
    with torch.device("meta"):
        audioset = avpet.create_model("vatt_audio_base_audioset")
    assert audioset.cfg.modalities == ("audio",) and audioset.head[1].out_features == 527


def test_a_converted_model_extracts_and_evaluates(fixture_registered, data_dir, tmp_path, capsys):
    """A user's first hour: convert, then ``avpet extract`` and ``avpet eval grid|fsdd`` on real
    data with the repo as the model (the record's weights, made by the official code)."""
    repo = tmp_path / "repo"
    assert main(["convert-official", "vatt", str(RECORD / "ckpt-1"), "--out", str(repo)]) == 0
    shapes = first_hour(repo, data_dir, tmp_path / "features", capsys)
    clips = shapes["visual_pooled"][0]
    assert shapes == {
        "visual_pooled": (clips, 8),
        "audio_pooled": (clips, 8),
        "visual_joint": (clips, 12),
        "audio_joint": (clips, 12),
    }


def test_extract_feeds_converted_weights_as_the_official_loaders(fixture_registered, tmp_path):
    """End to end: the sample clip through ``avpet extract`` with the converted record gives
    what the official model (the record's weights in the official TF code) gives on DMVR's
    preprocessing of the same decoded frames and sound, both recorded by
    ``tools/official_preprocessing.py`` (1.0e-6 at most there). The first 9 clips lie inside the
    3-s file; past its end DMVR loops the frames while avpet repeats the last one."""
    repo, out = tmp_path / "repo", tmp_path / "features"
    assert main(["convert-official", "vatt", str(RECORD / "ckpt-1"), "--out", str(repo)]) == 0
    model = ["--model", f"local-dir:{repo}", "--pretrained", "--backend", "pyav"]
    assert main(["extract", str(SAMPLE), *model, "--out", str(out)]) == 0
    ours = avpet.read_features(out / f"{SAMPLE.name}.safetensors").features
    official = np.load(RECORD / "sample_clip.npz")
    assert set(official.files) == set(ours)
    for key in official.files:
        clips = len(official[key])
        assert clips == 9 and np.abs(ours[key][:clips].numpy() - official[key]).max() <= 1e-5, key

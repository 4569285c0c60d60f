"""Official MMV checkpoints into avpet: parity with the official JAX/Haiku code on pickles it wrote
(``tests/fixtures/mmv_official_{s3d,tsm}``), placement of every array, the registry's exact
architectures, and a user's first hour with a converted model."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import first_hour

import avpet
from avpet.cli import main
from avpet.convert import mmv
from avpet.convert.parity import replay_mmv
from avpet.errors import CheckpointError
from avpet.models.mmv_official import MMVOfficial

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = {"s3d": FIXTURES / "mmv_official_s3d", "tsm": FIXTURES / "mmv_official_tsm"}
SAMPLE = Path(__file__).parents[1] / "examples" / "grid_s1_bbaf2n.mp4"
PICKLES = {"s3d": "mmv_s3d.pkl", "tsm": "mmv_tsm_resnet_x1.pkl"}
EMBEDDINGS = {"video_va", "video_vt", "audio_va", "audio_vt", "audio_at", "text_vt", "text_at"}


def pickle_of(backbone: str) -> Path:
    return RECORDS[backbone] / PICKLES[backbone]


@pytest.fixture(scope="module")
def official() -> dict[str, np.ndarray]:
    return mmv.load_official(pickle_of("s3d"))


@pytest.mark.parametrize("backbone", sorted(RECORDS))
def test_every_output_matches_the_official_code(backbone):
    diffs = replay_mmv(RECORDS[backbone])
    assert set(diffs) == {"video_pooled", "audio_pooled"} | EMBEDDINGS
    assert max(diffs.values()) <= 1e-4, diffs


@pytest.mark.parametrize("backbone", sorted(RECORDS))
def test_every_official_array_is_placed_once(backbone):
    official = mmv.load_official(pickle_of(backbone))
    model = MMVOfficial(mmv.infer_cfg(official))
    state = mmv.convert_state_dict(official, model, "fixture")
    assert set(state) == set(model.state_dict())
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert len(official) == len(state) - len(counters)  # BN counters exist only in avpet
    assert model.cfg.video_backbone == backbone


def test_layouts_of_kernels_norms_and_heads(official):
    model = MMVOfficial(mmv.infer_cfg(official))
    state = mmv.convert_state_dict(official, model, "fixture")
    stem = official["visual_module/Conv2d_1a_7x7/conv3_d/w"]  # [2, 4, 4, 24, C]
    ours = state["encoders.video.layers.Conv2d_1a_7x7.convs.0.conv.weight"]
    assert stem.shape[:4] == (2, 4, 4, 24) and ours.shape == (stem.shape[4], 24, 2, 4, 4)
    assert torch.equal(ours[:, :, 1, 2, 3], torch.from_numpy(stem[1, 2, 3].T))
    var = official["audio_module/block_group_1/block_0/bn_2/var_ema/average"]
    assert torch.equal(
        state["encoders.audio.resnet.blocks.3.norms.2.running_var"], torch.from_numpy(var.ravel())
    )
    inner = official["vid2audio_embd/final_projection_inner/w"]
    assert torch.equal(state["spaces.video_va.0.weight"], torch.from_numpy(inner.T))
    assert "spaces.video_va.3.bias" not in state  # no bias before the output BN


def test_haiku_path_spellings_are_one():
    """Haiku versions write method scopes and BatchNorm names differently; all are one key."""
    new = "text_audio_video/~_get_pair_embedding_heads/vid2audio_embd/__cross_replica_batch_norm_1"
    assert mmv.canonical(new) == "vid2audio_embd/bn_1"
    assert mmv.canonical("text_audio_video/vid2audio_embd/cross_replica_batch_norm_1") == (
        "vid2audio_embd/bn_1"
    )
    old = "text_audio_video/audio_module/~/res_net_v2/~/block_group_0/block_0/batch_norm"
    assert mmv.canonical(old) == "audio_module/block_group_0/block_0/bn"


def test_missing_or_foreign_arrays_are_refused(official):
    model = MMVOfficial(mmv.infer_cfg(official))
    extra = dict(official, **{"visual_module/Mixed_5c/extra/w": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match="no avpet counterpart.*Mixed_5c/extra"):
        mmv.convert_state_dict(extra, model, "ckpt")
    short = {k: v for k, v in official.items() if not k.startswith("txt2audio_embd/")}
    with pytest.raises(CheckpointError, match="missing.*txt2audio_embd"):
        mmv.convert_state_dict(short, model, "ckpt")


def test_a_pickle_that_runs_code_is_refused_by_the_cli(tmp_path, capsys):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "mmv_s3d.pkl"
    bad.write_bytes(pickle.dumps({"params": Exploit(), "state": {}}))
    assert main(["convert-official", "mmv", str(bad), "--out", str(tmp_path / "repo")]) == 3
    err = capsys.readouterr()
    assert "refused global builtins.print" in err.err and "pwned" not in err.out
    assert not (tmp_path / "repo").exists()


def test_an_unregistered_architecture_is_a_clear_cli_error(tmp_path, capsys):
    out = tmp_path / "repo"
    assert main(["convert-official", "mmv", str(pickle_of("tsm")), "--out", str(out)]) == 3
    assert "no registered MMV has this checkpoint's architecture" in capsys.readouterr().err
    assert not out.exists()


# the official totals of the released architectures (SPEC §3): total with the word table,
# video, audio, text (trainable), heads (with the audio-text ones)
OFFICIAL_COUNTS = {
    "mmv_s3d_fac": (57_509_968, 9_146_000, 4_592_640),
    "mmv_tsm_resnet50_fac": (72_388_608, 23_500_352, 5_116_928),
    "mmv_tsm_resnet50x2_fac": (143_828_544, 93_891_712, 6_165_504),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_COUNTS))
def test_registered_models_have_the_official_counts(name):
    total, video, heads = OFFICIAL_COUNTS[name]
    with torch.device("meta"):
        model = avpet.create_model(name)
    counts = model.parameter_counts()
    assert (counts["total"], counts["video"], counts["spaces"]) == (total, video, heads)
    assert counts["audio"] == 23_494_080 and counts["text"] == 616_448
    assert counts["text_embedding_frozen"] == 19_660_800
    assert mmv.registered_name(model.cfg) == name


@pytest.mark.parametrize("backbone", ["s3d", "tsm_resnet50", "tsm_resnet50x2"])
@pytest.mark.parametrize("kind", ["shared", "disjoint"])
def test_the_papers_other_spaces_are_head_variants_on_the_authors_backbones(backbone, kind):
    with torch.device("meta"):
        fac = avpet.create_model(f"mmv_{backbone}_fac").parameter_counts()
        variant = avpet.create_model(f"mmv_{backbone}_{kind}")
    counts = variant.parameter_counts()
    assert isinstance(variant, MMVOfficial) and variant.cfg.spaces.kind == kind
    for part in ("video", "audio", "text", "text_embedding_frozen"):
        assert counts[part] == fac[part], part
    assert 0 < counts["spaces"] < fac["spaces"]
    assert mmv.registered_name(variant.cfg) == f"mmv_{backbone}_{kind}"


def test_a_head_variant_runs_the_contract():
    model = avpet.create_model("mmv_s3d_shared").eval()
    with torch.no_grad():
        out = model.forward_features(
            visual=torch.rand(1, 1, 3, 4, 32, 32), audio=torch.randn(1, 1, 1, 16, 24)
        )
    assert out["visual_joint"].shape == out["audio_joint"].shape == (1, 1, 256)


def test_padding_words_enter_the_max_as_in_the_official_code():
    with torch.device("meta"):
        cfg = avpet.create_model("mmv_s3d_fac").cfg
    assert not cfg.text.mask_padding
    small = replace(cfg.text, vocab_size=8)
    none = replace(cfg.spaces, kind="none")
    text = MMVOfficial(replace(cfg, modalities=("text", "audio"), spaces=none, text=small))
    text = text.encoders["text"]
    with torch.no_grad():
        text.table.weight[0].fill_(5.0)
        padded, alone = text(torch.tensor([[3, 0]])), text(torch.tensor([[3, 3]]))
    assert not torch.equal(padded, alone)


@pytest.fixture
def fixture_registered(monkeypatch):
    """The S3D fixture's architecture registered (as the released sizes are) for the CLI."""
    from avpet import registry
    from avpet.config import PretrainedCfg
    from avpet.models import mmv_official

    name = "mmv_fixture_tiny"
    cfg = mmv.infer_cfg(mmv.load_official(pickle_of("s3d")))
    # what the record's network reads: 4 frames of 16² (even, for space-to-depth), 16 × 24 log-mel;
    # fed as the official eval feeds the released sizes (12.5 fps, DMVR resize and crop, [0, 1])
    spec = replace(mmv_official.OFFICIAL_INPUT, frames=4, size=16, test_size=16)
    default = PretrainedCfg(
        input=replace(spec, sample_rate=16000, n_mels=16, mel_frames=24), license="cc-by-nc-4.0"
    )
    monkeypatch.setitem(mmv_official.VARIANTS, name, (cfg, default))
    monkeypatch.setitem(registry._entries, name, registry.ModelEntry(MMVOfficial, cfg))
    monkeypatch.setitem(registry._pretrained_cfgs, name, {"": default})
    return name


def test_cli_writes_a_hub_repo_that_loads_back(fixture_registered, tmp_path, capsys):
    out = tmp_path / "repo"
    assert main(["convert-official", "mmv", str(pickle_of("s3d")), "--out", str(out)]) == 0
    assert f"local-dir:{out}" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["model_name"] == fixture_registered and config["tag"] == "official"
    assert config["pretrained_cfg"]["license"] == "cc-by-nc-4.0"
    model = avpet.create_model(f"local-dir:{out}", pretrained=True).eval().double()
    data = np.load(RECORDS["s3d"] / "parity.npz")
    audio = torch.from_numpy(data["audio"]).double().permute(0, 3, 2, 1)  # [B, 1, bins, frames]
    with torch.no_grad():  # the contract's sequences: one clip per sample here
        features = model.forward_features(audio=audio[:, None])
    assert np.abs(features["audio_joint"][:, 0].numpy() - data["out_audio_va"]).max() <= 1e-4


def test_every_released_checkpoint_has_a_card_with_its_licence_marked():
    from avpet.convert.cards import MMV_CARDS

    assert set(MMV_CARDS) == set(OFFICIAL_COUNTS)
    for name, card in MMV_CARDS.items():
        text = card.description
        assert "CC BY-NC 4.0" in text and "non-commercial" in text, name
        assert card.source.endswith(".pkl") and "deepmind-research-mmv" in card.source
        assert "did not re-measure" in text and "UCF101" in text
        assert "[0, 1]" in text and "log-mel" in text


def test_a_converted_model_extracts_and_evaluates(fixture_registered, data_dir, tmp_path, capsys):
    """A user's first hour: convert, then ``avpet extract`` and ``avpet eval grid|fsdd`` on real
    data with the repo as the model (the record's weights, written by the official code)."""
    repo = tmp_path / "repo"
    assert main(["convert-official", "mmv", str(pickle_of("s3d")), "--out", str(repo)]) == 0
    readme = (repo / "README.md").read_text()
    assert "CC BY-NC 4.0" in readme and "non-commercial use only" in readme
    assert MMVOfficial.summary in readme and "unimodal Transformers" not in readme
    shapes = first_hour(repo, data_dir, tmp_path / "features", capsys)
    clips, record = shapes["visual_pooled"][0], np.load(RECORDS["s3d"] / "parity.npz")
    widths = {k: record[f"out_{k}"].shape[1] for k in ("video_pooled", "audio_pooled", "video_va")}
    assert shapes == {
        "visual_pooled": (clips, widths["video_pooled"]),
        "audio_pooled": (clips, widths["audio_pooled"]),
        "visual_joint": (clips, widths["video_va"]),
        "audio_joint": (clips, widths["video_va"]),
    }


def test_extract_feeds_converted_weights_as_the_official_eval(fixture_registered, tmp_path):
    """End to end: the sample clip through ``avpet extract`` with the converted S3D record gives
    the video features the official model (the record's pickle in the official Haiku code, float32)
    gives on ``process_samples``' views of the same decoded frames, both recorded by
    ``tools/official_preprocessing.py`` (at most 1.5e-4 of the features' scale there; clips differ
    by ~70% of it). The record's BatchNorm statistics come from random inputs, so it amplifies
    float32 rounding: its own float32 and float64 runs differ by 4e-5 of the scale. No official
    code computes MMV's audio input (the eval feeds zeros): audio features are not compared."""
    repo, out = tmp_path / "repo", tmp_path / "features"
    assert main(["convert-official", "mmv", str(pickle_of("s3d")), "--out", str(repo)]) == 0
    model = ["--model", f"local-dir:{repo}", "--pretrained", "--backend", "pyav"]
    assert main(["extract", str(SAMPLE), *model, "--out", str(out)]) == 0
    ours = avpet.read_features(out / f"{SAMPLE.name}.safetensors").features
    official = np.load(RECORDS["s3d"] / "sample_clip.npz")
    assert set(official.files) == {"visual_pooled", "visual_joint"}
    for key in official.files:
        clips, scale = len(official[key]), np.abs(official[key]).max()
        assert clips == 9 and np.abs(official[key][1:] - official[key][:-1]).max() > 0.5 * scale
        assert np.abs(ours[key][:clips].numpy() - official[key]).max() <= 5e-4 * scale, key


def test_loading_into_another_family_is_refused(tmp_path, capsys):
    out = tmp_path / "repo"
    args = ["convert-official", "mmv", str(pickle_of("s3d")), "--model", "vatt_small"]
    assert main([*args, "--out", str(out)]) == 3
    assert "vatt_small is not one of the authors' MMV networks" in capsys.readouterr().err
    assert not out.exists()


def test_the_records_catch_the_details_that_differ_from_the_paper(monkeypatch):
    """The TSM paper's in-place shift instead of MMV's rotating one, or PyTorch's symmetric
    padding instead of ``SAME``, moves the outputs far beyond the tolerance."""
    from avpet.layers import resnet_v2, same
    from avpet.layers.temporal_shift import TemporalShift

    def symmetric(sizes, kernel, stride):
        return tuple(p for k in reversed(kernel) for p in (k // 2, k // 2))

    with monkeypatch.context() as patch:
        patch.setattr(resnet_v2, "rotating_shift", lambda x, t, f: TemporalShift(t)(x))
        assert replay_mmv(RECORDS["tsm"])["video_pooled"] > 1e-3
    with monkeypatch.context() as patch:
        patch.setattr(same, "same_padding", symmetric)
        assert replay_mmv(RECORDS["s3d"])["video_pooled"] > 1e-3


def test_optimizer_state_beside_params_and_state_is_skipped(tmp_path):
    from avpet.convert.safe_pickle import load_pickle

    tree = load_pickle(pickle_of("s3d"))
    tree["opt_state"] = {"text_audio_video/text_module/~/text_conv1": {"mu": np.ones(3)}}
    path = tmp_path / "with_optimizer.pkl"
    path.write_bytes(pickle.dumps(tree))
    assert mmv.load_official(path).keys() == mmv.load_official(pickle_of("s3d")).keys()

"""``avpet extract`` end to end on real GRID clips with the small model."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from safetensors import safe_open

import avpet
from avpet.cli import main
from avpet.data import create_transform, load_sample, resolve_data_config
from avpet.errors import MediaError
from avpet.extract import decode_ahead

LEVELS = {
    f"{modality}_{level}"
    for modality in ("visual", "audio")
    for level in ("cnn", "tokens", "unimodal", "multimodal", "bos")
} | {"starts"}


def test_extract_grid_clips(data_dir, tmp_path):
    clip = str(data_dir / "grid_s1" / "video" / "bbaf2n.mp4")
    silent = str(data_dir / "media" / "h264_no_audio.mp4")
    out = tmp_path / "features.safetensors"
    argv = ["extract", clip, silent, "--model", "avpet_small_mid_lowrank", "--out", str(out)]
    assert main(argv + ["--seed", "3"]) == 0
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
        names = f.keys()
        features = {k: f.get_tensor(k) for k in names}
    assert {k.rsplit("/", 1)[1] for k in features if k.startswith(clip + "/")} == LEVELS
    silent_levels = {k.rsplit("/", 1)[1] for k in features if k.startswith(silent + "/")}
    assert not any(level.startswith("audio") for level in silent_levels)
    assert meta["model"] == "avpet_small_mid_lowrank" and json.loads(meta["videos"]) == [
        clip,
        silent,
    ]
    assert avpet.config.from_dict(avpet.InputSpec, json.loads(meta["input_spec"])) == (
        avpet.get_pretrained_cfg("avpet_small_mid_lowrank").input
    )

    # The stored features are the model's own, for the same seed and the same clips.
    torch.manual_seed(3)
    model = avpet.create_model("avpet_small_mid_lowrank").eval()
    sample = load_sample(clip, create_transform(resolve_data_config(model)))
    with torch.inference_mode():
        direct = model.forward_features(visual=sample["visual"][None], audio=sample["audio"][None])
    assert features[f"{clip}/audio_multimodal"].shape == (4, 256)
    for level, value in direct.items():
        torch.testing.assert_close(features[f"{clip}/{level}"], value[0])
    assert torch.equal(features[f"{clip}/starts"], sample["starts"])

    assert main(argv + ["--seed", "4"]) == 3  # an existing result is kept
    assert main(argv + ["--seed", "4", "--overwrite"]) == 0  # another init, other features
    with safe_open(str(out), "pt") as f:
        assert not torch.equal(f.get_tensor(f"{clip}/visual_bos"), features[f"{clip}/visual_bos"])


@pytest.mark.parametrize("name", ["vatt_small", "mmv_small_tsm_fac"])
def test_extract_with_every_family(name, data_dir, tmp_path):
    """The peers through the same command: every level they declare, one row per clip."""
    clip = str(data_dir / "grid_s1" / "video" / "bbaf2n.mp4")
    out = tmp_path / "features.safetensors"
    assert main(["extract", clip, "--model", name, "--out", str(out)]) == 0
    model = avpet.create_model(name)
    with safe_open(str(out), "pt") as f:
        features = {k.rsplit("/", 1)[1]: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    clips = len(features.pop("starts"))
    expected = {
        f"{m}_{level.name}": (clips, level.dims[m])
        for level in model.feature_levels()
        for m in level.modalities
        if m in ("visual", "audio")
    }
    assert {k: tuple(v.shape) for k, v in features.items()} == expected


def test_extract_bad_input(data_dir, tmp_path, capsys):
    clip = str(data_dir / "grid_s1" / "video" / "bbaf2n.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_text("no video here")
    out = tmp_path / "f.safetensors"
    base = ["extract", "--model", "avpet_small_mid_lowrank", "--out", str(out)]
    assert main(base + [clip, str(junk)]) == 3
    assert "avpet extract: error:" in capsys.readouterr().err and not out.exists()
    assert main(base + [clip, str(junk), "--on-error", "skip"]) == 0
    with safe_open(str(out), "pt") as f:
        skipped = json.loads(f.metadata()["skipped"])
        assert list(skipped) == [str(junk)]
        assert skipped[str(junk)].startswith("not a readable media file")
        names = f.keys()
        assert f"{clip}/visual_bos" in names


def test_decode_ahead_loads_the_next_video_while_one_is_used():
    started = {video: threading.Event() for video in "abc"}

    def load(video):
        started[video].set()
        if video == "b":
            raise MediaError(video, "corrupt")
        return {"video": video}

    seen = []
    for video, sample in decode_ahead(list("abc"), load, prefetch=1):
        if video == "a":
            assert started["b"].wait(timeout=30)  # b is decoding while a is being used
        seen.append(sample if isinstance(sample, MediaError) else sample["video"])
    assert seen[0] == "a" and seen[2] == "c"
    assert isinstance(seen[1], MediaError) and seen[1].reason == "corrupt"

    started = {video: threading.Event() for video in "abc"}
    for video, _ in decode_ahead(list("abc"), load, prefetch=0):
        if video == "a":
            assert not started["b"].is_set()

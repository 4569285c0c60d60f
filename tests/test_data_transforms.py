"""Transforms and data config: the AVBERT log-mel front end, crops, augmentations, resolution."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import avpet
from avpet.config import InputSpec
from avpet.data import DataConfig, LogMel, create_transform, resolve_data_config
from avpet.data.grid import GRID_MOUTH
from avpet.errors import ConfigError, MediaError

SMALL = avpet.get_pretrained_cfg("avpet_small_mid_lowrank").input


@pytest.mark.parametrize(
    "spec, case",
    [(SMALL, "avpet_small_mid_lowrank"), (InputSpec(), "avpet_mid_lowrank")],
    ids=["small", "paper"],
)
def test_logmel_matches_the_avbert_front_end(spec, case):
    # torchaudio's MelSpectrogram of the same waveform, printed by tools/mel_reference.py
    with safe_open(Path(__file__).parent / "fixtures" / "mel_reference.safetensors", "pt") as f:
        wave, mel = f.get_tensor(f"{case}/wave"), f.get_tensor(f"{case}/mel")
    assert wave.shape[-1] == spec.clip_samples
    out = LogMel(spec)(wave)
    assert out.shape == (1, 1, spec.n_mels, spec.mel_frames)
    expected = torch.log(spec.log_offset + mel)[..., : spec.mel_frames]
    assert expected.shape[-1] == spec.mel_frames  # 96 and 128 frames come out exactly
    torch.testing.assert_close(out[:, 0], expected, rtol=1e-4, atol=1e-3)


def test_logmel_pads_short_audio_with_silence():
    spec = SMALL
    out = LogMel(spec)(torch.randn(1, spec.clip_samples // 2))
    assert out.shape[-1] == spec.mel_frames
    assert torch.all(out[..., -10:] == math.log(spec.log_offset))


def _frames(f=8, h=120, w=160):
    return torch.randint(
        0, 256, (f, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def test_eval_is_a_normalised_centre_crop():
    cfg = DataConfig(input=SMALL)
    t = create_transform(cfg, is_training=False)
    frames = torch.full((8, 120, 160, 3), 255, dtype=torch.uint8)
    g = t.geometry("x.mp4", 120, 160)
    assert (g.height, g.width, g.top, g.left, g.flip) == (64, 85, 0, 10, False)
    out = t.visual(frames, g)
    assert out.shape == (3, 8, 64, 64)
    torch.testing.assert_close(out, torch.full_like(out, (1 - 0.45) / 0.225))


def test_training_geometry_is_random_but_one_per_sequence():
    t = create_transform(DataConfig(input=SMALL), is_training=True)
    geometries = {
        t.geometry("x.mp4", 120, 160, torch.Generator().manual_seed(s)) for s in range(20)
    }
    assert len(geometries) > 5 and {g.flip for g in geometries} == {True, False}
    g = next(iter(geometries))
    frames = _frames()
    a, b = t.visual(frames, g), t.visual(frames, g)
    assert torch.equal(a, b) and a.shape == (3, 8, 64, 64)
    assert all(64 <= min(g.height, g.width) <= 80 for g in geometries)


def test_flip_mirrors_the_crop():
    t = create_transform(DataConfig(input=SMALL), is_training=False)
    g = t.geometry("x.mp4", 120, 160)
    flipped = type(g)(g.height, g.width, g.top, g.left, g.size, True)
    frames = _frames()
    assert torch.equal(t.visual(frames, g).flip(-1), t.visual(frames, flipped))


def test_roi_crops_source_pixels_first():
    cfg = DataConfig(input=SMALL, roi=GRID_MOUTH)
    frames = torch.zeros(8, 288, 360, 3, dtype=torch.uint8)
    frames[:, 150:246, 118:214] = 255  # the mouth box is white, the rest black
    t = create_transform(cfg)
    out = t.visual(frames, t.geometry("x.mp4", 288, 360))
    torch.testing.assert_close(out, torch.full_like(out, (1 - 0.45) / 0.225))
    with pytest.raises(MediaError, match="small.mp4: roi .* outside the 200x100 frame"):
        t.geometry("small.mp4", 100, 200)


def test_spectrogram_masks_only_when_training():
    segments = torch.randn(4, SMALL.clip_samples, generator=torch.Generator().manual_seed(0))
    cfg = DataConfig(input=SMALL, max_time_mask=0.5, max_freq_mask=0.5)
    clean = create_transform(cfg, is_training=False).audio(segments)
    masked = create_transform(cfg, is_training=True).audio(
        segments, torch.Generator().manual_seed(3)
    )
    assert torch.equal(clean, LogMel(SMALL)(segments))
    changed = (clean != masked)[:, 0]
    assert changed.any()
    for clip in changed:  # every change is a full-width band in time or frequency
        rows, cols = clip.all(dim=1), clip.all(dim=0)
        assert torch.equal(clip, rows[:, None] | cols[None, :])


def test_resolve_data_config_from_model_name_cfg_and_overrides():
    model = avpet.create_model("avpet_small_mid_lowrank")
    from_model = resolve_data_config(model)
    assert from_model.input == model.pretrained_cfg.input
    assert resolve_data_config("avpet_small_mid_lowrank") == from_model
    assert resolve_data_config(model.pretrained_cfg).input == from_model.input
    tweaked = resolve_data_config(model, num_clips=1, roi=(0, 10, 0, 10), use_test_size=True)
    assert tweaked.input.num_clips == 1 and tweaked.roi == (0, 10, 0, 10)
    assert tweaked.eval_size == model.pretrained_cfg.input.test_size
    assert resolve_data_config(tweaked) == tweaked
    with pytest.raises(ConfigError, match="unknown data config field"):
        resolve_data_config(model, frame_count=3)


@pytest.mark.parametrize(
    "bad",
    [
        {"roi": (10, 5, 0, 4)},
        {"scale_jitter": (1.2, 1.0)},
        {"hflip": 2.0},
        {"missing_audio": "zeros"},
        {"backend": "ffmpeg"},
        {"max_time_mask": 1.5},
    ],
)
def test_data_config_validation(bad):
    with pytest.raises(ConfigError):
        DataConfig(**bad)

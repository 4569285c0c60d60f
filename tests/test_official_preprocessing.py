"""avpet's evaluation transform against the authors' own preprocessing of the sample clip's frames
(DMVR under TensorFlow for VATT, MMV's ``eval_ucf101.process_samples``, AVBERT's PySlowFast
transforms), recorded by ``tools/official_preprocessing.py`` in
``tests/fixtures/official_preprocessing.npz``: the first frame of each official view, stored as
the uint8 levels that the official float output is a function of."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import avpet
from avpet.config import InputSpec
from avpet.data import clips, create_transform, resolve_data_config
from avpet.models import mmv_official, vatt

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "official_preprocessing.npz")


def official_float(case: str, levels: np.ndarray) -> np.ndarray:
    """The official output from its uint8 levels, as each pipeline computes it in float32."""
    k = levels.astype(np.float32)
    if case.startswith("vatt"):  # DMVR normalize_image(zero_centering_image=True)
        return k * np.float32(2 / 255) - np.float32(1)
    if case == "mmv":  # process_samples: video /= 255.0
        return k / np.float32(255)
    return (k / np.float32(255) - np.float32(0.45)) / np.float32(0.225)  # color_normalization


def spec_of(case: str) -> InputSpec:
    if case.startswith("vatt"):
        return vatt.PAPER_INPUT
    if case == "mmv":
        return mmv_official.OFFICIAL_INPUT
    return avpet.get_pretrained_cfg("avpet_mid_lowrank").input


def first_frame(spec: InputSpec, case: str) -> np.ndarray:
    """avpet's evaluation transform of the stored source frame, ``[S, S, 3]``."""
    source = torch.from_numpy(FIXTURE["source"])[None]
    if case == "vatt_upsampled":
        source = source[:, ::3, ::3]  # 96 x 120: enlarged to 224 x 280
    transform = create_transform(resolve_data_config(spec))
    geometry = transform.geometry("clip", source.shape[1], source.shape[2])
    return transform.visual(source, geometry)[:, 0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("case", ["vatt", "vatt_upsampled", "mmv", "avbert"])
def test_pixels_equal_the_official_pipeline(case):
    """Resize kernel, rounding, crop offset and normalisation: DMVR's bilinear + uint8 cast and
    PySlowFast's nearest resize exactly; VATT's [-1, 1] within float32 rounding (1.2e-7
    measured: ``(x / 255 - 0.5) / 0.5`` against ``x * (2 / 255) - 1``)."""
    expected = official_float(case, FIXTURE[f"{case}_levels"])
    ours = first_frame(spec_of(case), case)
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() <= 2e-7


@pytest.mark.parametrize("case", ["vatt", "mmv", "avbert"])
def test_the_check_sees_avpet_s_own_resize(case):
    """The comparison has teeth: avpet's default antialiased resize is not the official one."""
    spec = replace(spec_of(case), resize_style="avpet")
    expected = official_float(case, FIXTURE[f"{case}_levels"])
    assert np.abs(first_frame(spec, case) - expected).max() > 0.05


@pytest.mark.parametrize("case", ["vatt", "mmv", "avbert"])
def test_frames_are_the_official_ones(case):
    """The official view from source frame ``first``: DMVR's middle clip at stride 2, MMV's
    window at stride 2, PySlowFast's ``temporal_sampling`` over 64 / 30 s."""
    times, fps = FIXTURE["times"], float(FIXTURE["fps"])
    start = float(times[int(FIXTURE["first"])])
    assert clips.clip_frames(times, start, spec_of(case), fps) == FIXTURE[f"{case}_index"].tolist()


@pytest.mark.parametrize("case, windows", [("vatt", 4), ("mmv", 10)])
def test_test_windows_are_the_official_ones(case, windows):
    """Each of the official test windows (``sample_linspace_sequence``) is the avpet clip that
    starts on its first frame."""
    times, fps = FIXTURE["times"], float(FIXTURE["fps"])
    official = FIXTURE[f"{case}_linspace_index"]
    assert official.shape == (windows, 32)
    for window in official:
        start = float(times[window[0]])
        assert clips.clip_frames(times, start, spec_of(case), fps) == window.tolist()


def test_vatt_sound_is_as_long_as_the_official_loaders_take():
    """``int(REF_SR * num_frames / REF_FPS)`` = 153,600 samples of 48 kHz audio beside the 32
    frames (vatt/data/dataloaders.py); the AudioSet classifiers' loader takes every second
    sample (``audio_stride`` 2): the same count at 24 kHz."""
    assert vatt.PAPER_INPUT.clip_samples == 153_600 and vatt.PAPER_INPUT.sample_rate == 48_000
    audioset = avpet.get_pretrained_cfg("vatt_audio_base_audioset").input
    assert (audioset.clip_samples, audioset.sample_rate) == (153_600, 24_000)
    transform = create_transform(resolve_data_config(vatt.PAPER_INPUT))
    wave = torch.randn(1, 153_600)
    assert torch.equal(transform.audio(wave), wave)  # raw waveform, no normalisation

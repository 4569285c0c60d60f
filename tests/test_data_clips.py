"""Clip timing: starts, frame choice at the spec's frame rate, audio alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avpet.data import clips
from avpet.errors import ConfigError, MediaError

GRID_TIMES = np.arange(75) / 25.0  # 3.0 s at 25 fps


def test_last_start_and_too_short():
    assert clips.last_start("a.mp4", 3.0, 0.64) == pytest.approx(2.36)
    assert clips.last_start("a.mp4", 0.64, 0.64) == 0.0
    with pytest.raises(MediaError, match="a.mp4: video lasts 0.600 s, shorter than one clip"):
        clips.last_start("a.mp4", 0.6, 0.64)


def test_uniform_starts_are_even_and_overlap_when_needed():
    assert clips.uniform_starts(2.36, 4) == pytest.approx([0.0, 2.36 / 3, 2 * 2.36 / 3, 2.36])
    assert clips.uniform_starts(2.0, 1) == [1.0]
    short = clips.uniform_starts(0.2, 4)  # 0.84 s video, four 0.64 s clips: they overlap
    assert short[-1] - short[0] == pytest.approx(0.2)


def test_random_starts_one_per_segment_and_reproducible():
    g = torch.Generator().manual_seed(0)
    starts = clips.random_starts(2.36, 4, g)
    width = 2.36 / 4
    assert all(k * width <= s <= (k + 1) * width for k, s in enumerate(starts))
    again = clips.random_starts(2.36, 4, torch.Generator().manual_seed(0))
    assert starts == again
    assert starts != clips.random_starts(2.36, 4, torch.Generator().manual_seed(1))


def test_explicit_starts_are_clamped():
    assert clips.clamp_starts(2.36, [-1.0, 1.0, 5.0]) == [0.0, 1.0, 2.36]
    with pytest.raises(ConfigError):
        clips.clamp_starts(2.36, [])


def test_frames_resampled_from_25_to_12_5_fps():
    assert clips.clip_frames(GRID_TIMES, 0.4, 8, 12.5) == [10, 12, 14, 16, 18, 20, 22, 24]


def test_frames_upsampled_by_repetition():
    times = np.arange(30) / 10.0  # 10 fps source, 15 fps clip
    assert clips.clip_frames(times, 0.0, 6, 15.0) == [0, 0, 1, 2, 2, 3]


def test_snap_moves_back_onto_a_frame():
    assert clips.snap(GRID_TIMES, [0.419, 0.0, 2.999]) == pytest.approx([0.4, 0.0, 2.96])


def test_audio_start_follows_the_avbert_formula():
    """audio_start = floor(audio_rate * video_start / video_rate) for a start on frame 37."""
    sample_rate, video_rate, video_start = 16000, 25.0, 37
    start = float(GRID_TIMES[video_start])
    assert clips.audio_begin(start, sample_rate) == math.floor(
        sample_rate * video_start / video_rate
    )
    assert clips.audio_begin(start, sample_rate) == 23680

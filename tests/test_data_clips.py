"""Clip timing: starts, frame choice at the spec's frame rate, audio alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avpet.config import InputSpec
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
    """A 12.5-fps clip of a 25-fps file takes every second frame: DMVR's stride 2 (VATT, MMV)."""
    spec = InputSpec(frames=8, fps=12.5)
    assert clips.clip_frames(GRID_TIMES, 0.4, spec, 25.0) == [10, 12, 14, 16, 18, 20, 22, 24]


def test_frames_upsampled_by_repetition():
    times = np.arange(30) / 10.0  # 10 fps source, 15 fps clip
    assert clips.clip_frames(times, 0.0, InputSpec(frames=6, fps=15.0), 10.0) == [0, 0, 1, 2, 2, 3]


def test_linspace_sampling_is_pyslowfast_temporal_sampling():
    """AVBERT's loader: 32 frames over NUM_FRAMES * SAMPLING_RATE * fps / TARGET_FPS source
    frames, linspace(start, end, 32) truncated: on 30 fps, every second frame but the last,
    which is the span's last frame; on 25 fps a span of 53.3 frames."""
    spec = InputSpec(frames=32, fps=15.0, frame_sampling="linspace")
    times = np.arange(300) / 30.0
    assert clips.clip_frames(times, 10 / 30, spec, 30.0) == [10 + 2 * k for k in range(31)] + [73]
    times = np.arange(250) / 25.0
    expected = torch.linspace(4, 4 + 32 * 2 * 25 / 30 - 1, 32).long().tolist()
    assert clips.clip_frames(times, 4 / 25, spec, 25.0) == expected
    assert expected[1] == 5 and expected[-1] == 56
    end = clips.clip_frames(times, 240 / 25, spec, 25.0)  # past the end: the last frame repeats
    assert end[-1] == 249 and end[0] == 240


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

"""Clip timing: where the T clips of a sequence start and which frames and samples each one takes.

All times are seconds on the video timeline (first frame = 0). A clip that starts at ``s`` shows
the source frames on screen at ``s + k / fps`` (k < frames), so the spec's frame rate is reached by
repeating or skipping source frames and variable-frame-rate files are read by timestamp; its audio
starts at sample ``floor(sample_rate * s)`` (the AVBERT alignment ``floor(audio_rate * video_start /
video_rate)`` with ``s = video_start / video_rate``). Start times are snapped back onto a source
frame's timestamp, so that formula holds exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..config import InputSpec
from ..errors import ConfigError, MediaError

# Tolerance for float timestamps (well below one audio sample at 48 kHz).
_EPS = 1e-6


def last_start(path: str, duration: float, clip_seconds: float) -> float:
    """Latest start time at which a whole clip fits; MediaError if the video is shorter than one."""
    room = duration - clip_seconds
    if room < -_EPS:
        raise MediaError(
            path, f"video lasts {duration:.3f} s, shorter than one clip of {clip_seconds:.3f} s"
        )
    return max(room, 0.0)


def snap(frame_times: np.ndarray, times: Sequence[float]) -> list[float]:
    """Each time moved back to the timestamp of the source frame on screen at that time."""
    return [float(frame_times[i]) for i in frame_index(frame_times, times)]


def frame_index(frame_times: np.ndarray, times: Sequence[float]) -> np.ndarray:
    """Index of the source frame on screen at each time (the last frame that started by then)."""
    found = np.searchsorted(frame_times, np.asarray(times, dtype=np.float64) + _EPS, side="right")
    return np.clip(found - 1, 0, len(frame_times) - 1)


def uniform_starts(last: float, num_clips: int) -> list[float]:
    """``num_clips`` evenly spaced starts over ``[0, last]`` (one clip: the middle). Deterministic;
    when the video holds fewer than ``num_clips`` clips they overlap."""
    if num_clips == 1:
        return [last / 2]
    return [last * k / (num_clips - 1) for k in range(num_clips)]


def random_starts(
    last: float, num_clips: int, generator: torch.Generator | None = None
) -> list[float]:
    """One uniformly random start inside each of ``num_clips`` equal segments of ``[0, last]``
    (TSN-style), so the clips stay in temporal order and cover the whole video."""
    offsets = torch.rand(num_clips, generator=generator, dtype=torch.float64)
    width = last / num_clips
    return [width * (k + float(offsets[k])) for k in range(num_clips)]


def clamp_starts(last: float, starts: Sequence[float]) -> list[float]:
    """Explicit starts (e.g. word-centred windows) moved into ``[0, last]``."""
    if not starts:
        raise ConfigError("explicit clip starts: at least one start time is needed")
    return [min(max(float(s), 0.0), last) for s in starts]


def clip_frames(
    frame_times: np.ndarray, start: float, spec: InputSpec, source_fps: float
) -> list[int]:
    """Source frame indices of one clip from ``start``: ``spec.frames`` frames at ``spec.fps``
    (``frame_sampling="rate"``), or PySlowFast's ``temporal_sampling`` (``"linspace"``): the
    first frame's index plus ``linspace(0, span - 1, frames)`` in float32, truncated, where
    ``span = frames / fps * round(source_fps)`` source frames (clamped to the last frame)."""
    if spec.frame_sampling == "rate":
        times = [start + k / spec.fps for k in range(spec.frames)]
        return frame_index(frame_times, times).tolist()
    first = int(frame_index(frame_times, [start])[0])
    span = spec.frames / spec.fps * round(source_fps)
    index = torch.linspace(first, first + span - 1, spec.frames)
    return index.clamp(0, len(frame_times) - 1).long().tolist()


def audio_begin(start: float, sample_rate: int) -> int:
    """First audio sample of a clip that starts at ``start`` seconds: ``floor(rate * start)``."""
    return math.floor(sample_rate * start + _EPS)

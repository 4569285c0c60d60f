"""A whole file as a stream of clip windows: every part of it covered, read front to back once.

:class:`Coverage` says which clips: by default consecutive clips of the spec's length from 0 to the
end (the last one runs past the end: its frames repeat the last frame, its audio is silence).
:class:`MediaStream` decodes them in order (PyAV's forward pass, :class:`~avpet.data.io.AudioStream`
for the sound) and hands them out in :class:`Window` s of up to ``window`` clips, so memory stays
flat whatever the file's length. A file without audio, or without video, is read for the
modality it has (``has_audio`` / ``has_visual``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError, MediaError
from . import clips
from .io import AudioStream, MediaReader, probe, reader_for
from .transforms import ClipTransform


@dataclass(frozen=True)
class Coverage:
    """Which clips of a file are read.

    ``stride``: seconds from one clip's start to the next (``None``: the clip length, so the
    clips are consecutive and do not overlap). ``max_clips``: at most this many, evenly spaced
    over the span when the stride would give more. ``start`` / ``end``: the span in seconds
    (``end=None``: the end of the file).
    """

    stride: float | None = None
    max_clips: int | None = None
    start: float = 0.0
    end: float | None = None

    def __post_init__(self):
        if self.stride is not None and self.stride <= 0:
            raise ConfigError(f"--clip-stride must be positive, got {self.stride}")
        if self.max_clips is not None and self.max_clips < 1:
            raise ConfigError(f"--num-clips must be >= 1, got {self.max_clips}")
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise ConfigError(f"need 0 <= --start < --end, got {self.start} and {self.end}")

    def starts(self, path: str, duration: float, clip_seconds: float) -> list[float]:
        """Clip start times (seconds) in ``path``'s span of ``duration`` seconds."""
        end = duration if self.end is None else min(self.end, duration)
        if self.start >= end:
            raise MediaError(path, f"--start {self.start:g} s is past its end ({duration:.3f} s)")
        stride = self.stride or clip_seconds
        count = max(1, math.ceil((end - self.start) / stride - 1e-9))
        if self.max_clips is not None and count > self.max_clips:
            last = max(end - clip_seconds, self.start)
            return [self.start + t for t in clips.uniform_starts(last - self.start, self.max_clips)]
        return [self.start + k * stride for k in range(count)]


@dataclass(frozen=True)
class Window:
    """Up to ``window`` consecutive clips of one file: ``visual`` ``[T, 3, F, S, S]`` (None for a
    file without video), ``audio`` ``[T, ...]`` (None without audio), ``start`` / ``end``
    ``[T]`` float64 seconds."""

    visual: torch.Tensor | None
    audio: torch.Tensor | None
    start: torch.Tensor
    end: torch.Tensor


class MediaStream:
    """The clips :class:`Coverage` picks in one file, read in order as :class:`Window` s.

    Opening probes the file (a :class:`MediaError` for an unusable one); iterating decodes. Use as
    a context manager.
    """

    def __init__(self, path: str | Path, transform: ClipTransform, coverage: Coverage, window: int):
        cfg, spec = transform.cfg, transform.cfg.input
        self.transform, self.window = transform, window
        self.info = info = probe(path, cfg.max_pixels, audio_only=True)
        if not info.has_audio and cfg.missing_audio == "error":
            raise MediaError(info.path, "no audio stream (missing_audio='error')")
        starts = coverage.starts(info.path, info.duration, spec.clip_seconds)
        self.starts = clips.snap(info.frame_times, starts) if info.has_video else starts
        self._geometry = (
            transform.geometry(info.path, info.height, info.width) if info.has_video else None
        )
        self._reader: MediaReader | None = None
        self._audio: AudioStream | None = None

    @property
    def has_visual(self) -> bool:
        return self.info.has_video

    @property
    def has_audio(self) -> bool:
        return self.info.has_audio

    @property
    def num_windows(self) -> int:
        return math.ceil(len(self.starts) / self.window)

    def __iter__(self) -> Iterator[Window]:
        cfg, spec = self.transform.cfg, self.transform.cfg.input
        if self.has_visual:
            self._reader = reader_for(self.info, cfg.backend, cfg.num_threads, cfg.decode_timeout)
        if self.has_audio:
            self._audio = AudioStream(self.info, spec.sample_rate)
        for begin in range(0, len(self.starts), self.window):
            starts = self.starts[begin : begin + self.window]
            yield Window(
                visual=torch.stack([self._clip(t) for t in starts]) if self.has_visual else None,
                audio=self._sound(starts) if self.has_audio else None,
                start=torch.tensor(starts, dtype=torch.float64),
                end=torch.tensor(starts, dtype=torch.float64) + spec.clip_seconds,
            )

    def _clip(self, start: float) -> torch.Tensor:
        spec = self.transform.cfg.input
        frames = clips.clip_frames(self.info.frame_times, start, spec, self.info.fps)
        return self.transform.visual(self._reader.frames(frames), self._geometry)

    def _sound(self, starts: list[float]) -> torch.Tensor:
        spec = self.transform.cfg.input
        pieces = [
            self._audio.read(clips.audio_begin(t, spec.sample_rate), spec.clip_samples)
            for t in starts
        ]
        return self.transform.audio(torch.stack(pieces))

    def close(self) -> None:
        """Release the decoders (idempotent)."""
        if self._reader is not None:
            self._reader.close()
        if self._audio is not None:
            self._audio.close()
        self._reader = self._audio = None

    def __enter__(self) -> MediaStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""One media file → one model-ready sample of T aligned audio/visual clips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import MediaError
from . import clips
from .io import MediaReader, open_media
from .transforms import ClipTransform


def load_sample(
    path: str | Path,
    transform: ClipTransform,
    starts: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
) -> dict:
    """Decode ``path`` into the input of the model ``transform.cfg`` was resolved for.

    Clip starts: ``starts`` if given (clamped into the video, any count >= 1), else random
    (training transform) or uniform (evaluation transform) over ``num_clips`` clips.

    Returns a dict with ``visual`` ``[T, 3, F, S, S]``, ``audio`` (log-mel
    ``[T, 1, n_mels, mel_frames]``, or waveform ``[T, clip_samples]`` for a waveform spec),
    ``path`` (str), ``starts`` ``[T]`` float64 seconds actually used, and ``has_audio`` (bool;
    False when the file has no audio stream and ``missing_audio="silence"``).
    Raises :class:`MediaError` naming the file and the reason for any unusable file.
    """
    cfg = transform.cfg
    reader = open_media(path, cfg.backend, cfg.num_threads, cfg.decode_timeout, cfg.max_pixels)
    with reader:
        return _read(reader, transform, starts, generator)


def _read(
    reader: MediaReader,
    transform: ClipTransform,
    starts: Sequence[float] | None,
    generator: torch.Generator | None,
) -> dict:
    info, cfg, spec = reader.info, transform.cfg, transform.cfg.input
    if not info.has_audio and cfg.missing_audio == "error":
        raise MediaError(info.path, "no audio stream (missing_audio='error')")
    last = clips.last_start(info.path, info.duration, spec.clip_seconds)
    if starts is not None:
        times = clips.clamp_starts(last, starts)
    elif transform.is_training:
        times = clips.random_starts(last, spec.num_clips, generator)
    else:
        times = clips.uniform_starts(last, spec.num_clips)
    times = clips.snap(info.frame_times, times)

    geometry = transform.geometry(info.path, info.height, info.width, generator)
    visual = torch.stack(
        [
            transform.visual(
                reader.frames(clips.clip_frames(info.frame_times, t, spec, info.fps)),
                geometry,
            )
            for t in times
        ]
    )
    begins = [clips.audio_begin(t, spec.sample_rate) for t in times]
    if info.has_audio:
        segments = reader.audio_windows(spec.sample_rate, begins, spec.clip_samples)
    else:
        segments = torch.zeros(len(times), spec.clip_samples)
    return {
        "visual": visual,
        "audio": transform.audio(segments, generator),
        "path": info.path,
        "starts": torch.tensor(times, dtype=torch.float64),
        "has_audio": info.has_audio,
    }

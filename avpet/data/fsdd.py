"""The Free Spoken Digit Dataset: recordings ``<digit>_<speaker>_<index>.wav`` at 8 kHz.

docs/evaluation.md says how the benchmark reads them (leave-one-speaker-out).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, MediaError

SAMPLE_RATE = 8000  # FSDD's own rate
NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")


@dataclass(frozen=True)
class Recording:
    """One FSDD recording: path, spoken digit, speaker and take index."""

    path: Path
    digit: int
    speaker: str
    index: int


def find_recordings(folder: Path, per_digit: int | None = None) -> list[Recording]:
    """The ``.wav`` files of ``folder`` (or its ``recordings/``), sorted by speaker, digit, take;
    with ``per_digit`` only that many takes (the lowest indices) per speaker and digit."""
    folder = Path(folder)
    if (folder / "recordings").is_dir():
        folder = folder / "recordings"
    if not folder.is_dir():
        raise MediaError(folder, "no such FSDD folder")
    recordings = []
    for path in folder.glob("*.wav"):
        match = NAME.match(path.stem)
        if not match:
            raise MediaError(path, "FSDD names are <digit>_<speaker>_<index>.wav")
        recordings.append(Recording(path, int(match[1]), match[2], int(match[3])))
    if not recordings:
        raise MediaError(folder, "no .wav recordings in this folder")
    recordings.sort(key=lambda r: (r.speaker, r.digit, r.index))
    if per_digit is not None:
        if per_digit < 1:
            raise ConfigError(f"--per-digit must be >= 1, got {per_digit}")
        counts: dict[tuple[str, int], int] = {}
        kept = []
        for r in recordings:
            key = (r.speaker, r.digit)
            counts[key] = counts.get(key, 0) + 1
            if counts[key] <= per_digit:
                kept.append(r)
        recordings = kept
    if len({r.speaker for r in recordings}) < 2:
        raise MediaError(folder, "leave-one-speaker-out needs recordings of >= 2 speakers")
    return recordings


def read_waveform(path: Path, sample_rate: int) -> torch.Tensor:
    """An audio file as mono float32 ``[S]`` at ``sample_rate`` (FFmpeg downmix + resampling).

    :mod:`avpet.data.io` reads audio on a video's timeline and needs a video stream; this reads
    audio-only files.
    """
    if not Path(path).is_file():
        raise MediaError(path, "no such file")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise MediaError(path, "no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = [
                chunk.to_ndarray().reshape(-1)
                for frame in container.decode(container.streams.audio[0])
                for chunk in resampler.resample(frame)
            ]
            chunks += [chunk.to_ndarray().reshape(-1) for chunk in resampler.resample(None)]
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise MediaError(path, f"not a readable audio file ({error})") from error
    if not chunks or not sum(len(c) for c in chunks):
        raise MediaError(path, "audio stream has no samples")
    return torch.from_numpy(np.concatenate(chunks))


def centred_clips(
    waveform: torch.Tensor, clip_samples: int, max_clips: int | None = None
) -> torch.Tensor:
    """``waveform [S]`` → ``[n, clip_samples]``, ``n = ceil(S / clip_samples)`` clipped to
    ``1..max_clips`` (``None``: no cap): a window of ``n`` clips centred on the waveform,
    zero-padded or cropped."""
    n = max(math.ceil(len(waveform) / clip_samples), 1)
    n = n if max_clips is None else min(n, max_clips)
    total = n * clip_samples
    extra = len(waveform) - total
    if extra > 0:
        waveform = waveform[extra // 2 : extra // 2 + total]
    else:
        waveform = F.pad(waveform, (-extra // 2, -extra - (-extra // 2)))
    return waveform.view(n, clip_samples)

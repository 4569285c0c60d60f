"""FSDD spoken digits with a frozen audio encoder, leave-one-speaker-out (SPEC §5).

Each recording ``<digit>_<speaker>_<index>.wav`` is resampled to the model's rate and cut into
``n = ceil(duration / clip_seconds)`` consecutive clips (at most ``num_clips`` for AVBERT; a peer,
VATT or MMV, encodes each clip alone and takes them all) centred on the recording, zero-padded at
both ends (most recordings are one clip of the small models), then given the model's audio front
end (log-mel, or the waveform itself for VATT). A recording's feature at a clip level is the mean
over its clips; ``bos`` is the sequence summary.
For each speaker a probe is fitted on the five others and scored on that speaker.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, MediaError
from .features import Progress, modality_levels
from .probe import ProbeCfg, ProbeScore, probe_accuracy
from .selection import probe_levels

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


def extract(
    model: nn.Module, recordings: Sequence[Recording], batch_size: int = 32
) -> dict[str, np.ndarray]:
    """Frozen audio features per recording: ``{level: [N, C]}`` (clip levels averaged)."""
    from ..data.config import resolve_data_config
    from ..data.transforms import create_transform

    transform = create_transform(resolve_data_config(model))
    spec = transform.cfg.input
    max_clips = None if model.clips_alone else spec.num_clips
    inputs = [
        transform.audio(
            centred_clips(read_waveform(r.path, spec.sample_rate), spec.clip_samples, max_clips)
        )
        for r in recordings
    ]
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    rows: dict[str, list] = {}
    progress = Progress("fsdd features", len(inputs))
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
        # one forward per clip count, so no sequence is padded with extra clips
        for count in sorted({len(inputs[i]) for i in chunk}):
            group = [i for i in chunk if len(inputs[i]) == count]
            levels = modality_levels(model, "audio", torch.stack([inputs[i] for i in group]))
            for level, value in levels.items():
                value = value.mean(1) if value.dim() == 3 else value
                rows.setdefault(level, []).extend(zip(group, value.float().numpy(), strict=True))
        progress.update(begin + len(chunk))
    return {
        level: np.stack([v for _, v in sorted(pairs, key=lambda p: p[0])])
        for level, pairs in rows.items()
    }


def leave_one_speaker_out(
    features: np.ndarray,
    recordings: Sequence[Recording],
    probe: ProbeCfg,
    fit: Callable[..., float | ProbeScore] = probe_accuracy,
) -> dict[str, float | ProbeScore]:
    """Digit accuracy per held-out speaker of probes fitted on the other speakers' ``features
    [N, C]`` only."""
    speakers = sorted({r.speaker for r in recordings})
    digits = np.array([r.digit for r in recordings])
    held = np.array([r.speaker for r in recordings])
    return {
        s: fit(
            features[held != s], digits[held != s], features[held == s], digits[held == s], probe
        )
        for s in speakers
    }


def summarise(per_speaker: dict[str, float]) -> dict:
    """``digit_acc_mean`` and the per-speaker accuracies."""
    return {
        "digit_acc_mean": float(np.mean(list(per_speaker.values()))),
        "digit_acc": per_speaker,
    }


def evaluate(
    model: nn.Module,
    recordings: Sequence[Recording],
    level: str,
    probe: ProbeCfg,
    all_levels: bool = False,
    batch_size: int = 16,
) -> dict:
    """The FSDD metrics of a frozen ``model``'s audio encoder at ``level``, or with ``level =
    "select"`` at the level chosen per held-out speaker on the other speakers' recordings
    (:mod:`avpet.eval.selection`, reported under ``"selected"``); with ``all_levels`` (and
    ``"select"``) every level's mean accuracy under ``"levels"``."""
    features = extract(model, recordings, batch_size)
    probes = probe_levels(
        model,
        level,
        all_levels,
        lambda lvl, fit: leave_one_speaker_out(features[lvl], recordings, probe, fit=fit),
    )
    metrics: dict = {"level": level, "n_recordings": len(recordings)}
    if probes.chosen is not None:
        metrics["selected"] = probes.chosen
    if all_levels or probes.chosen is not None:
        metrics["levels"] = {
            lvl: float(np.mean(list(accuracies.values())))
            for lvl, accuracies in probes.per_level.items()
        }
    return {**summarise(probes.headline), **metrics}

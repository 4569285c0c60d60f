"""Handcrafted features for the probes' reference points (docs/evaluation.md, baselines).

* audio: log-mel statistics, the mean and standard deviation over time of every mel band;
* visual (GRID): raw grey pixels of the lower face, a few frames evenly spread over the word,
  average-pooled.

Media are decoded with :mod:`avpet.data.io`; the log-mel is
:class:`avpet.data.mel.MelSpectrogram`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data import fsdd
from ..data.clips import frame_index
from ..data.grid import GRID_MOUTH, PROBED, SLOTS, GridClip
from ..data.io import open_media
from ..data.mel import MelSpectrogram
from ..errors import ConfigError
from .features import Progress


@dataclass(frozen=True)
class HandcraftedCfg:
    """Handcrafted feature settings.

    Attributes:
        sample_rate: audio rate of the log-mel (GRID clips are decoded to it).
        n_mels, win_seconds, hop_seconds: mel filterbank, window and hop.
        log_offset: ``log(log_offset + mel)``.
        roi: lower-face box ``(top, bottom, left, right)`` in source pixels.
        pool: average-pooling factor of the grey crop.
        frames_per_word: frames sampled evenly over each word.
    """

    sample_rate: int = 16000
    n_mels: int = 40
    win_seconds: float = 0.025
    hop_seconds: float = 0.010
    log_offset: float = 1e-6
    roi: tuple[int, int, int, int] = GRID_MOUTH
    pool: int = 4
    frames_per_word: int = 5

    def __post_init__(self):
        top, bottom, left, right = self.roi
        if not (0 <= top < bottom and 0 <= left < right):
            raise ConfigError(f"roi must be (top, bottom, left, right), got {self.roi}")
        if min(self.sample_rate, self.n_mels, self.pool, self.frames_per_word) < 1:
            raise ConfigError("sample_rate, n_mels, pool and frames_per_word must be >= 1")
        if not 0 < self.hop_seconds <= self.win_seconds:
            raise ConfigError("need 0 < hop_seconds <= win_seconds")


class LogMelStats:
    """Waveform ``[S]`` → ``[2 * n_mels]``: per-band mean and std of the log-mel over time."""

    def __init__(self, cfg: HandcraftedCfg, sample_rate: int | None = None):
        rate = sample_rate or cfg.sample_rate
        win = round(cfg.win_seconds * rate)
        self.cfg = cfg
        self.mel = MelSpectrogram(rate, win, round(cfg.hop_seconds * rate), cfg.n_mels)

    def __call__(self, waveform: torch.Tensor) -> np.ndarray:
        logmel = torch.log(self.cfg.log_offset + self.mel(waveform.float()))
        return torch.cat([logmel.mean(-1), logmel.std(-1, unbiased=False)]).numpy()


def mouth_pixels(frames: torch.Tensor, cfg: HandcraftedCfg) -> torch.Tensor:
    """uint8 RGB frames ``[N, H, W, 3]`` → grey pooled lower face ``[N, h, w]`` in [0, 1]."""
    top, bottom, left, right = cfg.roi
    crop = frames[:, top:bottom, left:right].float().mean(-1) / 255.0
    return F.avg_pool2d(crop.unsqueeze(1), cfg.pool).squeeze(1)


def grid_clip_features(clip: GridClip, cfg: HandcraftedCfg) -> dict[str, dict[str, np.ndarray]]:
    """``{"audio"|"visual": {slot: features}}`` of the probed words of one clip."""
    with open_media(clip.video, "pyav") as reader:
        info = reader.info
        pixels = mouth_pixels(reader.frames(range(info.num_frames)), cfg)
        waveform = reader.audio(cfg.sample_rate, info.duration)
    stats = LogMelStats(cfg)
    out: dict[str, dict[str, np.ndarray]] = {"audio": {}, "visual": {}}
    for slot in PROBED:
        word = clip.words[SLOTS.index(slot)]
        lo, hi = round(word.start * cfg.sample_rate), round(word.end * cfg.sample_rate)
        out["audio"][slot] = stats(waveform[lo:hi])
        times = np.linspace(word.start, word.end, cfg.frames_per_word, endpoint=False)
        out["visual"][slot] = pixels[frame_index(info.frame_times, times)].reshape(-1).numpy()
    return out


def grid_features(
    clips: Sequence[GridClip], cfg: HandcraftedCfg
) -> dict[str, dict[str, np.ndarray]]:
    """Handcrafted features of ``clips``: ``{modality: {slot: [N, C]}}``."""
    progress = Progress("grid handcrafted features", len(clips))
    rows = []
    for done, clip in enumerate(clips, start=1):
        rows.append(grid_clip_features(clip, cfg))
        progress.update(done)
    return {
        m: {slot: np.stack([r[m][slot] for r in rows]) for slot in PROBED}
        for m in ("audio", "visual")
    }


def fsdd_features(recordings: Sequence[fsdd.Recording], cfg: HandcraftedCfg) -> np.ndarray:
    """Log-mel mean+std ``[N, 2 * n_mels]`` of FSDD recordings at their own 8 kHz rate."""
    stats = LogMelStats(cfg, sample_rate=fsdd.SAMPLE_RATE)
    return np.stack([stats(fsdd.read_waveform(r.path, fsdd.SAMPLE_RATE)) for r in recordings])

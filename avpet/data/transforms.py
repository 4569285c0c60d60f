"""Transforms from decoded clips to model input: crop/resize/normalise frames; log-mel audio, or
the aligned waveform itself for a spec with ``audio_format="waveform"``.

Training draws one geometry (scale, crop position, flip) per sequence and applies it to all T
clips, so the clips of a sequence stay comparable; spectrogram masks are drawn per clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..config import InputSpec
from ..errors import MediaError
from .config import DataConfig
from .face import FaceTracker
from .mel import MelSpectrogram


class LogMel(nn.Module):
    """AVBERT audio front end: waveform ``[..., clip_samples]`` → log-mel ``[..., 1, n_mels,
    mel_frames]``.

    MelSpectrogram with ``n_fft = spec.n_fft``, hop ``n_fft // 2``, HTK mel scale, power 2, then
    ``log(log_offset + mel)``, padded (with the log of silence) or cropped to ``mel_frames``.
    """

    def __init__(self, spec: InputSpec):
        super().__init__()
        self.spec = spec
        self.mel = MelSpectrogram(spec.sample_rate, spec.n_fft, spec.n_fft // 2, spec.n_mels)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        logmel = torch.log(self.spec.log_offset + self.mel(waveform.float()))
        frames = logmel.shape[-1]
        if frames < self.spec.mel_frames:
            pad = self.spec.mel_frames - frames
            logmel = F.pad(logmel, (0, pad), value=math.log(self.spec.log_offset))
        return logmel[..., : self.spec.mel_frames].unsqueeze(-3)


@dataclass(frozen=True)
class Geometry:
    """Per-sequence visual geometry in resized pixels: resize to ``(height, width)``, crop a
    ``size`` square at ``(top, left)``, then flip if ``flip``. ``face``: with ``roi="face"``, the
    tracker that crops each clip to its lower face first (a square, resized to ``height x
    width``)."""

    height: int
    width: int
    top: int
    left: int
    size: int
    flip: bool
    face: FaceTracker | None = field(default=None, compare=False)


class ClipTransform:
    """Turns decoded clips into normalised model input (see :func:`create_transform`)."""

    def __init__(self, cfg: DataConfig, is_training: bool):
        self.cfg = cfg
        self.is_training = is_training
        self.logmel = LogMel(cfg.input) if cfg.input.audio_format == "logmel" else None
        self._mean = torch.tensor(cfg.input.mean).view(3, 1, 1, 1)
        self._std = torch.tensor(cfg.input.std).view(3, 1, 1, 1)

    def geometry(
        self, path: str, height: int, width: int, generator: torch.Generator | None = None
    ) -> Geometry:
        """Draw (training) or compute (evaluation) the crop of a ``height x width`` source."""
        face = FaceTracker(path) if self.cfg.roi == "face" else None
        if face is not None:
            height = width = self.cfg.eval_size  # a square crop of any side
        elif self.cfg.roi is not None:
            top, bottom, left, right = self.cfg.roi
            if self.cfg.roi_frame not in (None, (height, width)):
                frame_h, frame_w = self.cfg.roi_frame
                raise MediaError(
                    path,
                    f"the crop {self.cfg.roi} the weights were trained on refers to "
                    f"{frame_w}x{frame_h} frames, not {width}x{height}; choose one with "
                    "--roi none, --roi TOP BOTTOM LEFT RIGHT or --roi face",
                )
            if bottom > height or right > width:
                raise MediaError(
                    path, f"roi {self.cfg.roi} lies outside the {width}x{height} frame"
                )
            height, width = bottom - top, right - left
        if self.is_training:
            size = self.cfg.input.size
            lo, hi = self.cfg.scale_jitter
            short = round(size * (lo + (hi - lo) * _uniform(generator)))
            rh, rw = _resized(height, width, short, size)
            top = int((rh - size + 1) * _uniform(generator))
            left = int((rw - size + 1) * _uniform(generator))
            flip = _uniform(generator) < self.cfg.hflip
            return Geometry(rh, rw, top, left, size, flip, face)
        size = self.cfg.eval_size
        style = self.cfg.input.resize_style
        if style == "dmvr":  # resize_smallest, then crop_image's resize_with_crop_or_pad
            rh, rw = max(size, height * size // width), max(size, width * size // height)
            return Geometry(rh, rw, (rh - size) // 2, (rw - size) // 2, size, False, face)
        if style == "pyslowfast":  # random_short_side_scale_jitter, then uniform_crop
            rh, rw = height, width
            if min(height, width) != size:
                if width < height:
                    rh, rw = math.floor(height / width * size), size
                else:
                    rh, rw = size, math.floor(width / height * size)
            top, left = math.ceil((rh - size) / 2), math.ceil((rw - size) / 2)
            return Geometry(rh, rw, top, left, size, False, face)
        rh, rw = _resized(height, width, size, size)
        return Geometry(rh, rw, (rh - size) // 2, (rw - size) // 2, size, False, face)

    def visual(self, frames: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        """uint8 RGB frames ``[F, H, W, 3]`` → normalised float clip ``[3, F, S, S]``."""
        if geometry.face is not None:
            frames = geometry.face.crop(frames)
        elif self.cfg.roi is not None:
            top, bottom, left, right = self.cfg.roi
            frames = frames[:, top:bottom, left:right]
        x = _resize(frames.permute(0, 3, 1, 2), geometry, self.cfg.input.resize_style)
        g = geometry
        x = x[:, :, g.top : g.top + g.size, g.left : g.left + g.size]
        if g.flip:
            x = x.flip(-1)
        x = x.permute(1, 0, 2, 3).float().div_(255.0)
        return (x - self._mean) / self._std

    def audio(
        self, segments: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Aligned waveforms ``[T, clip_samples]`` → log-mel ``[T, 1, n_mels, mel_frames]``
        (with SpecAugment masks when training), or the waveforms unchanged for a waveform spec."""
        if self.logmel is None:
            return segments
        logmel = self.logmel(segments)
        if self.is_training:
            for clip in logmel:
                _mask(clip[0], 1, self.cfg.time_masks, self.cfg.max_time_mask, generator)
                _mask(clip[0], 0, self.cfg.freq_masks, self.cfg.max_freq_mask, generator)
        return logmel


def create_transform(cfg: DataConfig, is_training: bool = False) -> ClipTransform:
    """The transform for ``cfg``: training (random scale/crop/flip per sequence, spectrogram masks)
    or evaluation (shorter side to the eval size, centre crop, no masks)."""
    return ClipTransform(cfg, is_training)


def _resized(height: int, width: int, short: int, size: int) -> tuple[int, int]:
    """avpet's resize: the shorter side to ``short``, the longer one rounded, both ``>= size``."""
    scale = short / min(height, width)
    return max(size, round(height * scale)), max(size, round(width * scale))


def _resize(x: torch.Tensor, geometry: Geometry, style: str) -> torch.Tensor:
    """uint8 frames ``[F, 3, H, W]`` resized to the geometry's ``height x width`` with the
    kernel of ``style`` (see :class:`~avpet.config.InputSpec`); frames already that size are
    left as they are."""
    size = (geometry.height, geometry.width)
    if tuple(x.shape[-2:]) == size:
        return x
    if style == "dmvr":  # tf.image.resize (half-pixel bilinear), then tf.cast to uint8
        return _tf_bilinear(x, size).to(torch.uint8)
    if style == "pyslowfast":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear", antialias=True)


def _tf_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TensorFlow's ``ResizeBilinear`` (half-pixel centres, no antialiasing) of ``x [..., H, W]``
    to ``size``, in its float32 arithmetic (``compute_interpolation_weights`` and
    ``compute_lerp`` of ``resize_bilinear_op.cc``), so that the uint8 cast after it truncates
    exactly as TensorFlow's does; ``F.interpolate``'s different rounding moved 1e-4 of the
    values by one level."""

    def axis(length: int, out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        scale = torch.tensor(length, dtype=torch.float32) / out
        where = (torch.arange(out, dtype=torch.float32) + 0.5) * scale - 0.5
        floor = where.floor()
        lower = floor.clamp(min=0).long()
        upper = where.ceil().clamp(max=length - 1).long()
        return lower, upper, where - floor

    y0, y1, dy = axis(x.shape[-2], size[0])
    x0, x1, dx = axis(x.shape[-1], size[1])
    x = x.float()
    top, bottom = x[..., y0, :], x[..., y1, :]
    top = top[..., x0] + (top[..., x1] - top[..., x0]) * dx
    bottom = bottom[..., x0] + (bottom[..., x1] - bottom[..., x0]) * dx
    return top + (bottom - top) * dy[:, None]


def _uniform(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def _mask(
    spec: torch.Tensor, dim: int, count: int, max_fraction: float, generator: torch.Generator | None
) -> None:
    """In place: ``count`` bands along ``dim`` of ``spec [M, L]``, each up to ``max_fraction`` of
    it wide, set to the spectrogram's mean."""
    length = spec.shape[dim]
    fill = spec.mean()
    for _ in range(count):
        width = int(_uniform(generator) * max_fraction * length)
        start = int(_uniform(generator) * (length - width + 1))
        spec.narrow(dim, start, width).fill_(fill)

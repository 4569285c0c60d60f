"""``DataConfig``: how files become a model's input, resolved from its pretrained config (timm's
``resolve_data_config``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import InputSpec, PretrainedCfg, check_range, check_types
from ..errors import ConfigError
from ..registry import get_pretrained_cfg
from .io import default_max_pixels


@dataclass(frozen=True)
class DataConfig:
    """Everything between a media file and the model besides the model's :class:`InputSpec`.

    Attributes:
        input: the model's input spec (clips, frames, fps, sizes, mean/std, audio front end).
        roi: optional crop box in source pixels ``(top, bottom, left, right)`` (rows top:bottom,
            columns left:right), applied before any resize; GRID's mouth:
            :data:`avpet.data.grid.GRID_MOUTH`.
            Resolved from the input spec's ``roi`` (the crop the weights were trained on).
            ``"face"``: the lower face found in each clip (:mod:`avpet.data.face`).
        roi_frame: the frame size ``(height, width)`` a fixed ``roi`` refers to; frames of another
            size are refused (:class:`MediaError` naming ``--roi``) instead of cropped wrongly.
            Resolved from the input spec's ``roi_frame``; ``None``: any frame holding the roi.
        use_test_size: evaluate at ``input.test_size`` (the default, as PySlowFast's test
            crop: AVBERT trains at 112 and tests at 128) instead of ``input.size``.
        scale_jitter: training resizes the shorter side to ``size * U(lo, hi)`` before the crop.
        hflip: training probability of a horizontal flip (one draw per sequence).
        time_masks, freq_masks: training SpecAugment masks per clip spectrogram.
        max_time_mask, max_freq_mask: largest mask width as a fraction of mel frames / mel bins.
        missing_audio: ``"silence"`` (zero waveform, ``has_audio`` False) or ``"error"``.
        backend: ``"auto"`` (decord, PyAV fallback), ``"decord"`` or ``"pyav"``.
        decode_timeout: seconds a decord call may take before it is abandoned.
        max_pixels: larger frames (width x height) are refused with a MediaError, from the stream
            header before any decoding (default 8192 x 4320, or ``AVPET_MAX_PIXELS``).
        num_threads: decoder threads per reader.
    """

    input: InputSpec = field(default_factory=InputSpec)
    roi: tuple[int, int, int, int] | Literal["face"] | None = None
    roi_frame: tuple[int, int] | None = None
    use_test_size: bool = True
    scale_jitter: tuple[float, float] = (1.0, 1.25)
    hflip: float = 0.5
    time_masks: int = 1
    freq_masks: int = 1
    max_time_mask: float = 0.15
    max_freq_mask: float = 0.15
    missing_audio: Literal["silence", "error"] = "silence"
    backend: Literal["auto", "decord", "pyav"] = "auto"
    decode_timeout: float = 60.0
    max_pixels: int = field(default_factory=default_max_pixels)
    num_threads: int = 1

    def __post_init__(self):
        check_types(self)
        if self.roi not in (None, "face"):
            check_box(self.roi)
        lo, hi = self.scale_jitter
        if not 0 < lo <= hi:
            raise ConfigError(f"scale_jitter must satisfy 0 < lo <= hi, got {self.scale_jitter}")
        if not 0.0 <= self.hflip <= 1.0:
            raise ConfigError(f"hflip is a probability, got {self.hflip}")
        if self.time_masks < 0 or self.freq_masks < 0:
            raise ConfigError("time_masks and freq_masks must be >= 0")
        if not (0.0 <= self.max_time_mask <= 1.0 and 0.0 <= self.max_freq_mask <= 1.0):
            raise ConfigError("max_time_mask and max_freq_mask are fractions in [0, 1]")
        if self.missing_audio not in ("silence", "error"):
            raise ConfigError(
                f"missing_audio must be 'silence' or 'error', got {self.missing_audio!r}"
            )
        if self.backend not in ("auto", "decord", "pyav"):
            raise ConfigError(f"backend must be auto, decord or pyav, got {self.backend!r}")
        if self.decode_timeout <= 0 or self.max_pixels <= 0:
            raise ConfigError("decode_timeout and max_pixels must be positive")
        check_range(self, "num_threads", 0, 256, "threads")
        check_range(self, "time_masks", 0, 100, "masks")
        check_range(self, "freq_masks", 0, 100, "masks")

    @property
    def eval_size(self) -> int:
        """Side of the evaluation crop."""
        return self.input.test_size if self.use_test_size else self.input.size


def resolve_data_config(model_or_cfg: Any, **overrides: Any) -> DataConfig:
    """A :class:`DataConfig` for a model, a model name, a :class:`PretrainedCfg`, an
    :class:`InputSpec` or a :class:`DataConfig`, with field ``overrides`` applied.

    ``overrides`` may name :class:`InputSpec` fields too (``num_clips=1``).
    """
    if isinstance(model_or_cfg, DataConfig):
        cfg = model_or_cfg
    else:
        spec = _input_spec(model_or_cfg)
        cfg = DataConfig(input=spec, roi=spec.roi, roi_frame=spec.roi_frame)
    own = {f.name for f in dataclasses.fields(DataConfig)}
    spec_overrides = {k: v for k, v in overrides.items() if k not in own}
    unknown = set(spec_overrides) - {f.name for f in dataclasses.fields(InputSpec)}
    if unknown:
        raise ConfigError(f"unknown data config field(s): {sorted(unknown)}")
    data_overrides = {k: v for k, v in overrides.items() if k in own}
    if "roi" in data_overrides:  # a crop chosen by hand refers to no particular frame size
        data_overrides.setdefault("roi_frame", None)
    if spec_overrides:
        data_overrides["input"] = dataclasses.replace(cfg.input, **spec_overrides)
    return dataclasses.replace(cfg, **data_overrides)


def _input_spec(source: Any) -> InputSpec:
    if isinstance(source, str):
        source = get_pretrained_cfg(source)
    if isinstance(source, InputSpec):
        return source
    if isinstance(source, PretrainedCfg):
        return source.input
    cfg = getattr(source, "pretrained_cfg", None)
    if isinstance(cfg, PretrainedCfg):
        return cfg.input
    raise ConfigError(f"cannot resolve a data config from {type(source).__name__}")


def check_box(box: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``box`` if it is a crop ``(top, bottom, left, right)`` in source pixels, else a
    :class:`ConfigError` saying what is wrong with it (count, sign or order)."""
    shown = " ".join(map(str, box))
    if len(box) != 4:
        raise ConfigError(f"roi {shown}: give 4 numbers (TOP BOTTOM LEFT RIGHT), not {len(box)}")
    top, bottom, left, right = box
    if min(box) < 0:
        raise ConfigError(f"roi {shown}: pixel positions cannot be negative")
    if top >= bottom:
        raise ConfigError(f"roi {shown}: TOP ({top}) must be above BOTTOM ({bottom})")
    if left >= right:
        raise ConfigError(f"roi {shown}: LEFT ({left}) must be left of RIGHT ({right})")
    return tuple(box)

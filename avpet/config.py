"""Typed, frozen configuration shared by models, data and the hub.

`InputSpec` says what one model consumes (it travels with pretrained weights, as in timm's
``pretrained_cfg``); `PretrainedCfg` says where those weights live and under what licence.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from .errors import ConfigError

AUDIO_FORMATS = ("logmel", "waveform")
# Bounds on what one sequence may ask for, so a config cannot make avpet allocate without limit.
MAX_VISUAL_ELEMENTS = 2**28  # 1 GiB of float32 per sequence (the paper's input: 6.3 M elements)
MAX_CLIP_SECONDS = 60.0


@dataclass(frozen=True)
class InputSpec:
    """What a model consumes per sequence: ``num_clips`` aligned audio/visual segments.

    Visual input per sequence is ``[T, 3, frames, size, size]`` (RGB in [0, 1], then normalised
    with ``mean``/``std``). Audio input depends on ``audio_format``: ``"logmel"``, log-mel
    spectrograms ``[T, 1, n_mels, mel_frames]``; ``"waveform"``, the raw mono waveform
    ``[T, clip_samples]`` at ``sample_rate`` (VATT; ``n_mels`` and ``mel_frames`` are then unused).
    One clip spans ``frames / fps`` seconds of video and the same time span of audio. ``roi`` is
    the crop of the source frame, ``(top, bottom, left, right)`` in source pixels, that weights were
    trained on (GRID's mouth region, say); ``None`` is the whole frame. ``roi_frame`` is the frame
    size ``(height, width)`` that crop refers to: extraction applies the crop only to frames of
    that size (``None``: unknown, so never applied without being asked for).
    """

    num_clips: int = 4
    frames: int = 32
    fps: float = 15.0
    size: int = 112
    test_size: int = 128
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    sample_rate: int = 44100
    n_mels: int = 80
    mel_frames: int = 128
    log_offset: float = 1e-6
    roi: tuple[int, int, int, int] | None = None
    audio_format: str = "logmel"
    roi_frame: tuple[int, int] | None = None
    resize_style: Literal["avpet", "dmvr", "pyslowfast"] = "avpet"
    frame_sampling: Literal["rate", "linspace"] = "rate"
    audio_seconds: float | None = None

    def __post_init__(self):
        check_types(self)
        if not 1 <= self.num_clips <= 21:
            raise ConfigError(
                f"num_clips must be in 1..21 (22 position slots), got {self.num_clips}"
            )
        check_range(self, "frames", 1, 256, "frames per clip")
        check_range(self, "size", 1, 1024, "pixels")
        check_range(self, "test_size", 1, 1024, "pixels")
        check_range(self, "fps", 0.1, 1000, "frames per second")
        check_range(self, "sample_rate", 1000, 192_000, "Hz")
        check_range(self, "n_mels", 1, 512, "mel bins")
        check_range(self, "mel_frames", 1, 4096, "spectrogram frames")
        if not 0 < self.log_offset < 1:
            raise ConfigError(f"InputSpec.log_offset must be in (0, 1), got {self.log_offset}")
        if min(self.std) <= 0:
            raise ConfigError(f"InputSpec.std must be positive (it divides), got {self.std}")
        if self.clip_seconds > MAX_CLIP_SECONDS:
            raise ConfigError(
                f"InputSpec: a clip of frames / fps = {self.clip_seconds:g} s is longer than "
                f"{MAX_CLIP_SECONDS:g} s"
            )
        if self.audio_seconds is not None:
            check_range(self, "audio_seconds", 0.001, MAX_CLIP_SECONDS, "seconds")
        side = max(self.size, self.test_size)
        elements = self.num_clips * 3 * self.frames * side * side
        if elements > MAX_VISUAL_ELEMENTS:
            raise ConfigError(
                f"InputSpec: one sequence of num_clips x 3 x frames x size^2 = {elements:,} "
                f"values ({elements * 4 / 2**30:.1f} GiB as float32) exceeds the "
                f"{MAX_VISUAL_ELEMENTS:,} limit; lower frames, size or num_clips"
            )
        if self.audio_format not in AUDIO_FORMATS:
            raise ConfigError(
                f"InputSpec.audio_format must be one of {AUDIO_FORMATS}, got {self.audio_format!r}"
            )
        if self.roi is not None and not (
            len(self.roi) == 4 and 0 <= self.roi[0] < self.roi[1] and 0 <= self.roi[2] < self.roi[3]
        ):
            raise ConfigError(f"InputSpec.roi must be (top, bottom, left, right), got {self.roi}")
        if self.roi_frame is not None and (
            self.roi is None
            or len(self.roi_frame) != 2
            or self.roi[1] > self.roi_frame[0]
            or self.roi[3] > self.roi_frame[1]
        ):
            raise ConfigError(
                f"InputSpec.roi_frame {self.roi_frame} must be the (height, width) of a frame "
                f"holding roi {self.roi}"
            )

    @property
    def clip_seconds(self) -> float:
        """Duration of one clip (audio and video alike)."""
        return self.frames / self.fps

    @property
    def clip_samples(self) -> int:
        """Audio samples in one clip at ``sample_rate``: ``audio_seconds`` (default the clip's
        ``frames / fps``) of sound."""
        seconds = self.clip_seconds if self.audio_seconds is None else self.audio_seconds
        return int(round(seconds * self.sample_rate))

    @property
    def n_fft(self) -> int:
        """AVBERT front-end FFT size ``2 * (samples // mel_frames + 1)``; hop ``n_fft // 2``."""
        return 2 * (self.clip_samples // self.mel_frames + 1)

    @property
    def visual_shape(self) -> tuple[int, ...]:
        """Per-sequence visual tensor shape ``[T, C, F, H, W]`` at training size."""
        return (self.num_clips, 3, self.frames, self.size, self.size)

    @property
    def audio_shape(self) -> tuple[int, ...]:
        """Per-sequence audio tensor shape: ``[T, 1, n_mels, mel_frames]`` or ``[T, clip_samples]``
        (``audio_format="waveform"``)."""
        if self.audio_format == "waveform":
            return (self.num_clips, self.clip_samples)
        return (self.num_clips, 1, self.n_mels, self.mel_frames)


OFFICIAL_FAMILIES = ("avbert", "vatt", "mmv")


@dataclass(frozen=True)
class OfficialSource:
    """The authors' own release of a checkpoint, which ``pretrained=True`` downloads and converts
    once (:mod:`avpet.hub.official`).

    ``files`` are paths under the download endpoint (``https://storage.googleapis.com``, or the
    mirror ``AVPET_OFFICIAL_ENDPOINT`` names), all of one checkpoint: a VATT ``ckpt-N.index`` and
    its ``.data-00000-of-00001``, or one MMV ``.pkl``. No ``files``: no public URL, and
    ``manual`` says where to get the checkpoint by hand. ``license`` is the weights' licence,
    shown on the first download.
    """

    family: str
    license: str
    files: tuple[str, ...] = ()
    manual: str = ""

    def __post_init__(self):
        check_types(self)
        if self.family not in OFFICIAL_FAMILIES:
            raise ConfigError(
                f"OfficialSource.family must be one of {OFFICIAL_FAMILIES}, got {self.family!r}"
            )
        if not self.files and not self.manual:
            raise ConfigError("OfficialSource needs files to download or a manual instruction")
        for path in self.files:
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise ConfigError(f"OfficialSource.files: {path!r} is not a relative path")


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a model's weights come from, what input they expect, and their licence.

    Weights come from the Hub (``hf_hub_id``), a local ``file``, or the authors' own release
    (``official``, converted on first use).
    """

    input: InputSpec = field(default_factory=InputSpec)
    hf_hub_id: str | None = None
    hf_hub_revision: str | None = None
    file: str | None = None
    license: str | None = None
    tag: str = ""
    description: str = ""
    official: OfficialSource | None = None

    def __post_init__(self):
        check_types(self)

    @property
    def has_weights(self) -> bool:
        return bool(self.hf_hub_id or self.file or self.official)


def to_dict(cfg: Any) -> dict:
    """A config dataclass as plain JSON-ready data (tuples become lists)."""
    return dataclasses.asdict(cfg)


def check_types(cfg: Any) -> None:
    """Raise :class:`ConfigError` for a field of the dataclass ``cfg`` whose value does not have its
    annotated type (``int``, finite ``float``, ``str``, ``bool``, ``Literal``, ``X | None``,
    tuples, nested configs); a JSON config is checked field by field this way."""
    for name, hint in _hints(type(cfg)).items():
        value = getattr(cfg, name)
        if not _matches(value, hint):
            raise ConfigError(
                f"{type(cfg).__name__}.{name} must be {_describe(hint)}, got {value!r}"
            )


def check_range(cfg: Any, name: str, low: float, high: float, unit: str) -> None:
    """Raise :class:`ConfigError` unless ``low <= cfg.name <= high``."""
    value = getattr(cfg, name)
    if not low <= value <= high:
        raise ConfigError(
            f"{type(cfg).__name__}.{name} must be in {low:g}..{high:g} {unit}, got {value!r}"
        )


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


def _matches(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_matches, value, args))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # Any and other annotations: not checked


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
    if hint is type(None):
        return "null"
    if hint is float:
        return "a finite number"
    return {int: "an integer", str: "a string", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (possibly nested) config dataclass from :func:`to_dict` output.

    Raises :class:`ConfigError` for a non-object, an unknown field or a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {data!r:.80}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            raise ConfigError(f"{cls.__name__} has no field {key!r}")
        nested = _dataclass_in(hints[key])
        if nested is not None and isinstance(value, dict):
            value = from_dict(nested, value)
        elif isinstance(value, list):
            value = tuple(value)
        if not _matches(value, hints[key]):  # before __post_init__ compares it with numbers
            raise ConfigError(
                f"{cls.__name__}.{key} must be {_describe(hints[key])}, got {value!r:.80}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def _dataclass_in(hint: Any) -> type | None:
    """The config dataclass a field holds: ``hint`` itself, or ``X`` of ``X | None``."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (Union, types.UnionType):
        return next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)
    return None


def replace_nested(cfg: Any, **overrides: Any) -> Any:
    """``dataclasses.replace`` that also reaches fields of nested config dataclasses.

    A key is applied to ``cfg`` if it is one of its fields (a ``dict`` given for a nested config
    field updates that config: ``visual={"width": 32}``), else to the one nested dataclass that has
    it. A key that matches nothing, or several nested configs, raises :class:`ConfigError`.
    """
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    changes, claimed = {}, set()
    for key, value in overrides.items():
        if key in fields:
            nested = fields[key]
            if dataclasses.is_dataclass(nested) and isinstance(value, dict):
                value = replace_nested(nested, **value)
            changes[key] = value
            claimed.add(key)
    for name, nested in fields.items():
        if not dataclasses.is_dataclass(nested):
            continue
        names = {f.name for f in _all_fields(nested)}
        mine = {k: v for k, v in overrides.items() if k not in fields and k in names}
        if ambiguous := claimed & mine.keys():
            raise ConfigError(
                f"override(s) {sorted(ambiguous)} match several parts of {type(cfg).__name__}; "
                f"name the part, e.g. {name}={{{next(iter(ambiguous))!r}: ...}}"
            )
        if mine:
            changes[name] = replace_nested(changes.get(name, nested), **mine)
            claimed |= mine.keys()
    if unknown := set(overrides) - claimed:
        raise ConfigError(f"unknown override(s) for {type(cfg).__name__}: {sorted(unknown)}")
    return dataclasses.replace(cfg, **changes)


def _all_fields(cfg: Any) -> list[dataclasses.Field]:
    """Fields of ``cfg`` and of every dataclass nested in it."""
    out = list(dataclasses.fields(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out += _all_fields(value)
    return out

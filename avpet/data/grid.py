"""The GRID corpus (Cooke et al. 2006): sentences, their word timings, splits and the mouth box.

A GRID sentence is six words in fixed slots (command, color, prep, letter, digit, adverb) spoken
in one ``<id>.mpg``/``.mp4`` video of 288×360 frames, timed by ``<id>.align`` (``start end word``
per line in units of 1/25000 s, silences ``sil``/``sp`` included). docs/evaluation.md says how
the benchmark reads them; docs/data.md says how a crop box is applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError, MediaError
from .loader import load_sample
from .transforms import ClipTransform

GRID_MOUTH = (150, 246, 118, 214)
"""The speaker's mouth in GRID's 288×360 frames: ``(top, bottom, left, right)`` source pixels."""
GRID_FRAME = (288, 360)
"""GRID's frame size ``(height, width)``, the one :data:`GRID_MOUTH` refers to."""

SLOTS = ("command", "color", "prep", "letter", "digit", "adverb")
PROBED = ("color", "letter", "digit")  # the slots with many classes, from color to digit
ALIGN_RATE = 25000.0  # .align time units per second
SILENCE = frozenset({"sil", "sp"})
PROBE_CLIPS = SLOTS.index(PROBED[-1]) - SLOTS.index(PROBED[0]) + 1  # color..digit


@dataclass(frozen=True)
class Word:
    """One spoken word: its text and its span in seconds."""

    text: str
    start: float
    end: float

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class GridClip:
    """One GRID sentence: its id (file stem), video path and its six words in slot order."""

    id: str
    video: Path
    words: tuple[Word, ...]

    def label(self, slot: str) -> str:
        return self.words[SLOTS.index(slot)].text


def read_align(path: Path) -> tuple[Word, ...]:
    """The six words of a ``.align`` file (``start end word`` per line, silences dropped)."""
    try:
        lines = Path(path).read_text().split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise MediaError(path, f"unreadable align file ({error})") from error
    words = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            start, end, text = int(parts[0]), int(parts[1]), parts[2]
        except (IndexError, ValueError) as error:
            raise MediaError(
                path, f"line {number}: expected 'start end word', got {line!r}"
            ) from error
        if end <= start:
            raise MediaError(path, f"line {number}: word {text!r} ends before it starts")
        if text not in SILENCE:
            words.append(Word(text, start / ALIGN_RATE, end / ALIGN_RATE))
    if len(words) != len(SLOTS):
        raise MediaError(path, f"expected {len(SLOTS)} words besides sil/sp, found {len(words)}")
    return tuple(words)


def find_clips(video_dir: Path, align_dir: Path | None = None) -> list[GridClip]:
    """Every ``*.mp4`` of ``video_dir`` with its ``<id>.align`` from ``align_dir`` (default: the
    ``align`` folder next to ``video_dir``), sorted by id."""
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise MediaError(video_dir, "no such folder of GRID clips")
    align_dir = Path(align_dir) if align_dir else video_dir.parent / "align"
    videos = sorted(video_dir.glob("*.mp4"))
    if not videos:
        raise MediaError(video_dir, "no .mp4 clips in this folder")
    clips = []
    for video in videos:
        align = align_dir / f"{video.stem}.align"
        if not align.is_file():
            raise MediaError(video, f"no align file {align}")
        clips.append(GridClip(video.stem, video, read_align(align)))
    return clips


def split_unit(clip_id: str) -> float:
    """A fixed pseudo-random number in [0, 1) for ``clip_id`` (SHA-1 of the id)."""
    digest = hashlib.sha1(clip_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_clips(
    clips: Sequence[GridClip], train_fraction: float
) -> tuple[list[GridClip], list[GridClip]]:
    """Deterministic train/test split by :func:`split_unit` of each id: disjoint, independent of
    the order and of which other clips are present."""
    if not 0 < train_fraction < 1:
        raise ConfigError(f"--split is the training fraction in (0, 1), got {train_fraction}")
    train = [c for c in clips if split_unit(c.id) < train_fraction]
    test = [c for c in clips if split_unit(c.id) >= train_fraction]
    return train, test


def subset(clips: Sequence[GridClip], count: int) -> list[GridClip]:
    """``count`` clips in :func:`split_unit` order: a fixed pseudo-random pick (ids encode the
    sentence, so the first ids alphabetically all share a command and colour)."""
    if count < 1:
        raise ConfigError(f"--limit must be >= 1, got {count}")
    return sorted(clips, key=lambda c: split_unit(c.id))[:count]


def word_slots(num_clips: int) -> list[int]:
    """The ``num_clips`` consecutive word slots read per sentence, centred on color..digit."""
    if not 1 <= num_clips <= len(SLOTS):
        raise ConfigError(
            f"GRID sentences have {len(SLOTS)} words; the model wants {num_clips} clips"
        )
    if num_clips < PROBE_CLIPS:
        raise ConfigError(
            f"one sequence of {num_clips} clips cannot hold {PROBED[0]}..{PROBED[-1]}; "
            f"GRID word probes need num_clips >= {PROBE_CLIPS}"
        )
    begin = SLOTS.index(PROBED[0]) - (num_clips - PROBE_CLIPS) // 2
    begin = min(max(begin, 0), len(SLOTS) - num_clips)
    return list(range(begin, begin + num_clips))


def clip_starts(clip: GridClip, slots: Sequence[int], clip_seconds: float) -> list[float]:
    """Start times of the clips centred on the words of ``slots`` (clamped later by the loader)."""
    return [clip.words[s].centre - clip_seconds / 2 for s in slots]


def read_sequence(clip: GridClip, transform: ClipTransform) -> dict[str, torch.Tensor]:
    """The model input of one sentence: ``visual`` ``[T, 3, F, H, W]`` and ``audio``
    (``spec.audio_shape``), clip k centred on word ``word_slots(T)[k]``."""
    spec = transform.cfg.input
    starts = clip_starts(clip, word_slots(spec.num_clips), spec.clip_seconds)
    sample = load_sample(clip.video, transform, starts)
    return {m: sample[m].contiguous() for m in ("visual", "audio")}

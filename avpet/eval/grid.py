"""GRID word probes and audio-video retrieval with a frozen model (SPEC §5).

Each clip is one sentence of six words (command, color, prep, letter, digit, adverb), timed by its
``.align`` file (units of 1/25000 s, ``sil``/``sp`` dropped). One sequence of ``T`` clips is read
per sentence: clip k is centred on word ``first + k``, for the ``T`` consecutive words around
color..digit (``T = 4``: color, prep, letter, digit). A word's feature is its own clip's feature
at the chosen level, so the Transformer levels see the word in the context of its neighbours.
A peer (VATT, MMV) encodes each clip alone, so it reads the ``PROBE_CLIPS`` = 4 clips
color..digit whatever its own ``num_clips`` (:func:`create_eval_transform`). Retrieval compares
the visual-only and the audio-only sequences clip by clip at the same level
(:func:`retrieval_embedding`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import to_dict
from ..data.transforms import ClipTransform
from ..errors import ConfigError, MediaError
from .features import Progress, modality_levels
from .probe import ProbeCfg, ProbeScore, probe_accuracy
from .retrieval import retrieval_metrics
from .selection import probe_levels, select_retrieval_level

SLOTS = ("command", "color", "prep", "letter", "digit", "adverb")
PROBED = ("color", "letter", "digit")
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


def create_eval_transform(model: nn.Module, **overrides) -> ClipTransform:
    """The evaluation transform of ``model`` (``overrides``: fields of
    :func:`~avpet.data.config.resolve_data_config`). A peer encodes each clip alone, so its
    sequences hold the ``PROBE_CLIPS`` word clips color..digit whatever its ``num_clips``."""
    from ..data.config import resolve_data_config
    from ..data.transforms import create_transform

    cfg = resolve_data_config(model, **overrides)
    if model.clips_alone:
        cfg = resolve_data_config(cfg, num_clips=PROBE_CLIPS)
    return create_transform(cfg)


def clip_starts(clip: GridClip, slots: Sequence[int], clip_seconds: float) -> list[float]:
    """Start times of the clips centred on the words of ``slots`` (clamped later by the loader)."""
    return [clip.words[s].centre - clip_seconds / 2 for s in slots]


def decoded_sequence(
    clip: GridClip, transform: ClipTransform, cache: Path | None = None
) -> dict[str, torch.Tensor]:
    """The model input of ``clip`` (``visual``, ``audio``; see :func:`extract`), read from
    ``cache`` (a folder for this ``transform``: :func:`cache_folder`) when it was decoded before,
    else decoded (and written there). An unreadable cached file is decoded again and replaced."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save_file

    from ..data.loader import load_sample

    path = cache / f"{clip.id}.safetensors" if cache else None
    if path and path.is_file():
        try:
            cached = load_file(path)
        except (OSError, SafetensorError):
            cached = {}
        if {"visual", "audio"} <= cached.keys():
            return cached
    spec = transform.cfg.input
    sample = load_sample(
        clip.video, transform, clip_starts(clip, word_slots(spec.num_clips), spec.clip_seconds)
    )
    tensors = {m: sample[m].contiguous() for m in ("visual", "audio")}
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        save_file(tensors, str(partial))
        partial.replace(path)
    return tensors


def cache_folder(root: Path, transform: ClipTransform) -> Path:
    """``root/<hash of the transform's config>``: decoded inputs are shared by every model with
    the same input spec and crop."""
    key = json.dumps(to_dict(transform.cfg), sort_keys=True, default=str)
    return Path(root) / hashlib.sha1(key.encode()).hexdigest()[:16]


def extract(
    model: nn.Module,
    clips: Sequence[GridClip],
    transform: ClipTransform,
    batch_size: int = 16,
    cache: Path | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Frozen features of ``clips``: ``{modality: {level: array}}`` with clip levels
    ``[N, T, C]`` (position k = word ``word_slots(T)[k]``) and ``bos`` ``[N, D]``.

    ``cache``: a folder of decoded inputs for ``transform`` (see :func:`cache_folder`).
    """
    progress = Progress("grid features", len(clips))
    parts: dict[str, dict[str, list]] = {"visual": {}, "audio": {}}
    for begin in range(0, len(clips), batch_size):
        batch = clips[begin : begin + batch_size]
        samples = [decoded_sequence(c, transform, cache) for c in batch]
        for modality in parts:
            x = torch.stack([s[modality] for s in samples])
            for level, value in modality_levels(model, modality, x).items():
                parts[modality].setdefault(level, []).append(value.float().numpy())
        progress.update(begin + len(batch))
    return {m: {lvl: np.concatenate(v) for lvl, v in d.items()} for m, d in parts.items()}


def retrieval_embedding(levels: dict[str, np.ndarray], level: str) -> torch.Tensor:
    """What retrieval compares for one modality: at a clip level, every clip's feature centred on
    its position's mean over the set and L2-normalised, concatenated ``[N, T·C]`` (so the cosine
    of two sequences is the mean cosine of their clips); at ``bos``, the BOS summary ``[N, D]``."""
    x = torch.from_numpy(levels[level]).double()
    if x.dim() == 2:  # a sequence level
        return x
    x = x - x.mean(0)
    return (x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)).flatten(1)


def word_table(
    feats: dict[str, dict[str, np.ndarray]], level: str, num_clips: int
) -> dict[str, dict[str, np.ndarray]]:
    """``{modality: {slot: [N, C]}}`` at ``level`` from :func:`extract` output: a clip level's
    feature at the word's own clip, or the sequence's ``bos`` for every word."""
    slots = word_slots(num_clips)
    return {
        modality: {
            slot: levels[level][:, slots.index(SLOTS.index(slot))]
            if levels[level].ndim == 3
            else levels[level]
            for slot in PROBED
        }
        for modality, levels in feats.items()
    }


def probe_words(
    train: dict[str, dict[str, np.ndarray]],
    test: dict[str, dict[str, np.ndarray]],
    train_clips: Sequence[GridClip],
    test_clips: Sequence[GridClip],
    probe: ProbeCfg,
    fit: Callable[..., float | ProbeScore] = probe_accuracy,
) -> dict[str, float | ProbeScore]:
    """``{"{modality}_{slot}_acc": accuracy}`` of probes fitted on ``train`` features of
    ``train_clips`` and scored on ``test`` features of ``test_clips`` (``{modality: {slot:
    [N, C]}}`` each)."""
    return {
        f"{modality}_{slot}_acc": fit(
            train[modality][slot],
            [c.label(slot) for c in train_clips],
            test[modality][slot],
            [c.label(slot) for c in test_clips],
            probe,
        )
        for modality in ("visual", "audio")
        for slot in PROBED
        if modality in train
    }


def evaluate(
    model: nn.Module,
    train_clips: Sequence[GridClip],
    test_clips: Sequence[GridClip],
    transform: ClipTransform,
    level: str,
    probe: ProbeCfg,
    all_levels: bool = False,
    batch_size: int = 16,
    cache: Path | None = None,
) -> tuple[dict, torch.Tensor]:
    """The GRID metrics of a frozen ``model`` and the test audio→video similarity ``[N, N]``.

    ``transform``: :func:`create_eval_transform` of ``model`` (sequences of ``num_clips`` word
    clips). Headline ``{modality}_{slot}_acc`` and retrieval at ``level``, or with ``level =
    "select"`` at the levels chosen on the training split (:mod:`avpet.eval.selection`, reported
    under ``"selected"``); with ``all_levels`` (and ``"select"``) every level the model computes
    is probed, under ``"levels"``. ``cache``: see :func:`extract`.
    """
    from .retrieval import similarity

    if set(c.id for c in train_clips) & set(c.id for c in test_clips):
        raise ConfigError("the training and test clips overlap")
    num_clips = transform.cfg.input.num_clips
    train = extract(model, train_clips, transform, batch_size, cache)
    test = extract(model, test_clips, transform, batch_size, cache)
    probes = probe_levels(
        model,
        level,
        all_levels,
        lambda lvl, fit: probe_words(
            word_table(train, lvl, num_clips),
            word_table(test, lvl, num_clips),
            train_clips,
            test_clips,
            probe,
            fit=fit,
        ),
    )
    retrieval_level = level
    if probes.chosen is not None:
        probes.chosen["retrieval"] = retrieval_level = select_retrieval_level(
            model, lambda lvl: retrieval_metrics(*paired_embeddings(train, lvl))["a2v_r1"]
        )
    audio, visual = paired_embeddings(test, retrieval_level)
    metrics = {
        **probes.headline,
        **retrieval_metrics(audio, visual),
        "chance": chance(train_clips, len(test_clips)),
        "level": level,
        "n_train": len(train_clips),
        "n_test": len(test_clips),
    }
    if probes.chosen is not None:
        metrics["selected"] = probes.chosen
    if all_levels or probes.chosen is not None:
        metrics["levels"] = probes.per_level
    return metrics, similarity(audio, visual)


def paired_embeddings(
    feats: dict[str, dict[str, np.ndarray]], level: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The audio and visual :func:`retrieval_embedding` of :func:`extract` output at ``level``."""
    return retrieval_embedding(feats["audio"], level), retrieval_embedding(feats["visual"], level)


def chance(train_clips: Sequence[GridClip], n_test: int) -> dict[str, float]:
    """Uniform chance: 1 / (classes in the training split) per slot, 1/N and 5/N retrieval."""
    out = {}
    for slot in PROBED:
        labels = [c.label(slot) for c in train_clips]
        out[f"{slot}_acc"] = 1 / len(set(labels)) if labels else math.nan
    out.update({"r1": 1 / n_test, "r5": min(5 / n_test, 1.0)})
    return out

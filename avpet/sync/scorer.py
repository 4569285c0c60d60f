"""Sync of one file: its offset (whole file and per window of time), confidence and sync score.

    from avpet.sync import SyncScorer
    scorer = SyncScorer()                      # the published sync model, on the CPU
    result = scorer("dubbed.mp4")
    result.offset_frames, result.offset_seconds, result.confidence

Offsets are in the video's own frames (one step of :mod:`avpet.sync.reader`), positive when the
sound comes after the picture; ``search`` frames either way are tried.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..features import ExtractCfg, prepare
from ..models.contract import AVModel
from .reader import SyncEmbeddings, embed_file
from .scores import clip_scores, estimate
from .trust import doubt

DEFAULT_MODEL = "avpet_small_mid_lowrank.sync_grid_s1"


@dataclass(frozen=True)
class SyncWindow:
    """The estimate of one span of time: ``start`` / ``end`` in seconds."""

    start: float
    end: float
    offset_frames: int
    offset_seconds: float
    confidence: float


@dataclass(frozen=True)
class SyncResult:
    """The estimate of one file: ``offset_frames`` / ``offset_seconds`` (positive: the sound
    comes after the picture), ``confidence`` (how far the best offset's score stands above the
    median over offsets), ``sync_score`` (the score of offset 0: high when the file is in sync),
    ``scores`` over ``offsets`` (``-search..search`` frames), ``windows`` over time, and
    ``doubt``: why the estimate is unreliable (:mod:`avpet.sync.trust`), ``""`` when it is not."""

    path: str
    fps: float
    offset_frames: int
    offset_seconds: float
    confidence: float
    sync_score: float
    offsets: tuple[int, ...]
    scores: tuple[float, ...]
    windows: tuple[SyncWindow, ...]
    doubt: str = ""

    @property
    def reliable(self) -> bool:
        return not self.doubt

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "reliable": self.reliable}


class SyncScorer:
    """Scores files with ``model`` (a name, ``NAME.TAG`` or a model with a joint space).

    ``pretrained``: as for :func:`avpet.create_model` (a tagged name loads its weights);
    ``roi``: ``"auto"`` (the crop the weights record), ``"none"``, ``"face"`` or a box;
    ``search``: frames tried either way; ``window``: seconds per entry of ``windows``.
    """

    def __init__(
        self,
        model: str | AVModel = DEFAULT_MODEL,
        pretrained: bool | str = True,
        roi: tuple[int, int, int, int] | str = "auto",
        search: int = 15,
        window: float = 2.0,
        device: str = "cpu",
    ):
        if not 1 <= search <= 250:
            raise ConfigError(f"--search-frames must be in 1..250, got {search}")
        if not window > 0:
            raise ConfigError(f"--window must be positive seconds, got {window}")
        self.model, self.transform, _ = prepare(model, pretrained, roi, ExtractCfg(device=device))
        if self.model.joint_level is None:
            raise ConfigError(
                f"{model}: no joint audio-visual space to compare picture and sound in "
                f"(the default, {DEFAULT_MODEL}, has one)"
            )
        self.search, self.window = search, window

    def embed(self, path: str | Path) -> SyncEmbeddings:
        """Every clip and audio window of ``path`` embedded (see :mod:`avpet.sync.reader`)."""
        return embed_file(self.model, self.transform, str(path), self.search)

    def __call__(self, path: str | Path) -> SyncResult:
        """Score ``path``; :class:`~avpet.errors.MediaError` naming it for an unusable file."""
        return self.result(self.embed(path))

    def result(self, embeddings: SyncEmbeddings) -> SyncResult:
        """Read a file's embeddings into its :class:`SyncResult`."""
        scores = clip_scores(embeddings)
        whole = estimate(scores)
        fps, clip = embeddings.fps, self.transform.cfg.input.clip_seconds
        windows = []
        for first, last in _spans(len(scores), max(1, round(self.window * fps))):
            part = estimate(scores[first:last])
            windows.append(
                SyncWindow(
                    start=embeddings.start + first / fps,
                    end=embeddings.start + (last - 1) / fps + clip,
                    offset_frames=part.offset,
                    offset_seconds=part.offset / fps,
                    confidence=part.confidence,
                )
            )
        return SyncResult(
            path=embeddings.path,
            fps=fps,
            offset_frames=whole.offset,
            offset_seconds=whole.offset / fps,
            confidence=whole.confidence,
            sync_score=whole.sync_score,
            offsets=tuple(range(-embeddings.search, embeddings.search + 1)),
            scores=tuple(float(s) for s in whole.curve),
            windows=tuple(windows),
            doubt=doubt(whole.confidence, whole.offset, [w.offset_frames for w in windows]),
        )


def _spans(count: int, size: int) -> list[tuple[int, int]]:
    """Consecutive ``[first, last)`` spans of ``size`` clips; a tail shorter than half a span
    joins the one before it."""
    bounds = list(range(0, count, size)) + [count]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < size / 2:
        del bounds[-2]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def sync_file(path: str | Path, model: str | AVModel = DEFAULT_MODEL, **options) -> SyncResult:
    """One file's :class:`SyncResult` (``options`` as for :class:`SyncScorer`)."""
    return SyncScorer(model, **options)(path)

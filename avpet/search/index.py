"""An index of clip embeddings in a model's joint space, with exact and approximate search.

One row per clip: its video, start and end time in seconds, and its visual and audio embeddings at
the model's ``joint_level`` (L2-normalised, so the inner product is the cosine). A video's clips
start ``stride`` seconds apart (:mod:`.indexing` overlaps them by half a clip by default), and a
query is cut the same way, so its clips line up with the rows of a span (:mod:`.spans`). A query
of one modality is compared with the other modality's rows: a sound finds the clips whose picture
goes with it, a picture the clips whose sound does.

Search is exact (a matrix product in torch, in chunks) up to ``exact_limit`` rows; beyond that an
inverted-file index of faiss (``avpet[search]``) answers, probing ``nprobe`` of its lists.
:mod:`benchmarks.bench_search` measures both on a million synthetic rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from ..errors import ConfigError, IndexFileError
from ..extras import require
from ..outputs import atomic_file

MODALITIES = ("visual", "audio")
FORMAT_VERSION = 2  # 2: overlapping clips, their stride recorded
EXACT_LIMIT = 200_000  # rows searched exactly; an approximate index beyond


@dataclass(frozen=True)
class Hit:
    """One search result: the clip's video, its span in seconds and the cosine score."""

    video: str
    start: float
    end: float
    score: float


@dataclass
class ClipIndex:
    """Clip rows of one model's joint space; see the module docstring."""

    model: str
    level: str
    dim: int
    pretrained: bool | str = False
    roi: str | list[int] | None = "auto"
    stride: float | None = None  # seconds between a video's clip starts; None: one clip length
    videos: list[str] = field(default_factory=list)
    stamps: dict[str, list[float]] = field(default_factory=dict)
    video_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    exact_limit: int = EXACT_LIMIT
    nprobe: int = 64
    _approximate: dict = field(default_factory=dict, repr=False)
    _centres: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for m in MODALITIES:
            self.embeddings.setdefault(m, np.zeros((0, self.dim), np.float32))

    @property
    def crop(self) -> tuple[int, int, int, int] | str | None:
        """The crop as :func:`avpet.extract_features` takes it (``index.json`` keeps a box as
        a list): every clip and every query of this index is cut the same way."""
        return tuple(self.roi) if isinstance(self.roi, list) else self.roi

    def __len__(self) -> int:
        return len(self.video_ids)

    def add(
        self,
        video: str,
        starts: np.ndarray,
        ends: np.ndarray,
        embeddings: dict[str, np.ndarray],
        stamp: list[float] | None = None,
    ) -> None:
        """Append the clips of ``video`` (replacing any it had): ``starts``/``ends`` [n] seconds,
        ``embeddings[m]`` [n, dim] (normalised here); ``stamp``: the file's size and mtime."""
        self.remove(video)
        self.stamps[video] = stamp or []
        n = len(starts)
        for m in MODALITIES:
            rows = np.asarray(embeddings[m], np.float32).reshape(n, self.dim)
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            self.embeddings[m] = np.concatenate(
                [self.embeddings[m], rows / np.maximum(norms, 1e-12)]
            )
        self.videos.append(video)
        self.video_ids = np.concatenate([self.video_ids, np.full(n, len(self.videos) - 1)])
        self.starts = np.concatenate([self.starts, np.asarray(starts, np.float64)])
        self.ends = np.concatenate([self.ends, np.asarray(ends, np.float64)])
        self._changed()

    def remove(self, video: str) -> None:
        """Drop every clip of ``video`` (nothing if it is not indexed)."""
        if video not in self.videos:
            return
        keep = self.video_ids != self.videos.index(video)
        for m in MODALITIES:
            self.embeddings[m] = self.embeddings[m][keep]
        self.starts, self.ends = self.starts[keep], self.ends[keep]
        ids = self.video_ids[keep]
        gone = self.videos.index(video)
        self.video_ids = np.where(ids > gone, ids - 1, ids)
        self.videos.pop(gone)
        self.stamps.pop(video, None)
        self._changed()

    def _changed(self) -> None:
        """Forget what was derived from the rows."""
        self._approximate.clear()
        self._centres.clear()

    def centre(self, modality: str) -> np.ndarray:
        """The mean ``[dim]`` of ``modality``'s (normalised) rows, what clips of that modality
        share; :mod:`.spans` compares clips centred on it."""
        if modality not in self._centres:
            rows = self.embeddings[modality]
            self._centres[modality] = (
                rows.mean(0, dtype=np.float64).astype(np.float32)
                if len(rows)
                else np.zeros(self.dim, np.float32)
            )
        return self._centres[modality]

    def video_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """First row and row count of each video ``[len(videos)]`` (a video's rows are
        consecutive, in the order of its clips)."""
        videos = np.arange(len(self.videos))
        return np.searchsorted(self.video_ids, videos), np.bincount(
            self.video_ids, minlength=len(videos)
        )

    def search(self, queries: np.ndarray, modality: str, top: int = 10) -> tuple[np.ndarray, ...]:
        """The ``top`` rows of ``modality`` closest to each query ``[Q, dim]`` (queries of the
        other modality): ``(scores [Q, k], rows [Q, k])``, best first."""
        if modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {MODALITIES}, got {modality!r}")
        queries = np.asarray(queries, np.float32).reshape(-1, self.dim)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        top = min(top, len(self))
        if top < 1:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if len(self) <= self.exact_limit:
            return exact_search(self.embeddings[modality], queries, top)
        return self._faiss(modality).search(queries, top)

    def hits(self, rows: Sequence[int], scores: Sequence[float]) -> list[Hit]:
        return [
            Hit(
                self.videos[self.video_ids[r]], float(self.starts[r]), float(self.ends[r]), float(s)
            )
            for r, s in zip(rows, scores, strict=True)
            if r >= 0
        ]

    def _faiss(self, modality: str):
        """The inverted-file index of ``modality``'s rows, built on first use."""
        if modality not in self._approximate:
            self._approximate[modality] = build_ivf(self.embeddings[modality], self.nprobe)
        return self._approximate[modality]

    # ---- files ------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write the index to ``folder`` (``index.json`` and ``clips.safetensors``, atomically)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {
            "video_id": self.video_ids,
            "start": self.starts,
            "end": self.ends,
            **{f"{m}_embedding": self.embeddings[m] for m in MODALITIES},
        }
        with atomic_file(folder / "clips.safetensors", overwrite=True) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp))
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "level": self.level,
            "dim": self.dim,
            "pretrained": self.pretrained,
            "roi": self.roi,
            "stride": self.stride,
            "videos": self.videos,
            "stamps": [self.stamps.get(v, []) for v in self.videos],
        }
        with atomic_file(folder / "index.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(meta, indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ClipIndex:
        """Read an index written by :meth:`save` (IndexFileError naming what is wrong)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "index.json").read_text())
            tensors = load_file(str(folder / "clips.safetensors"))
        except (OSError, ValueError, SafetensorError) as error:
            raise IndexFileError(folder, f"not a readable avpet index ({error})") from error
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            raise IndexFileError(
                folder, f"index.json is not format {FORMAT_VERSION} (build it again: avpet index)"
            )
        try:
            index = cls(meta["model"], meta["level"], int(meta["dim"]), meta["pretrained"])
            index.roi, index.videos = meta["roi"], [str(v) for v in meta["videos"]]
            index.stride = None if meta["stride"] is None else float(meta["stride"])
            index.stamps = dict(zip(index.videos, meta["stamps"], strict=True))
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFileError(
                folder, f"index.json lacks or mangles a field ({error})"
            ) from error
        try:
            index.video_ids, index.starts, index.ends = (
                tensors["video_id"],
                tensors["start"],
                tensors["end"],
            )
            index.embeddings = {m: tensors[f"{m}_embedding"] for m in MODALITIES}
        except KeyError as error:
            raise IndexFileError(folder, f"clips.safetensors lacks {error}") from error
        n = len(index.video_ids)
        if any(len(a) != n for a in (index.starts, index.ends, *index.embeddings.values())) or (
            n and index.video_ids.max() >= len(index.videos)
        ):
            raise IndexFileError(folder, "clips.safetensors and index.json disagree")
        return index


def exact_search(rows: np.ndarray, queries: np.ndarray, top: int, chunk: int = 65536):
    """Exact inner-product top-``top`` of ``queries`` [Q, D] among ``rows`` [N, D] in torch,
    ``chunk`` rows at a time: ``(scores [Q, top], rows [Q, top])``."""
    q = torch.from_numpy(queries)
    best_scores = torch.full((len(queries), 0), -math.inf)
    best_rows = torch.zeros((len(queries), 0), dtype=torch.int64)
    for begin in range(0, len(rows), chunk):
        block = torch.from_numpy(rows[begin : begin + chunk])
        scores = q @ block.T
        k = min(top, scores.shape[1])
        values, where = scores.topk(k, dim=1)
        best_scores = torch.cat([best_scores, values], dim=1)
        best_rows = torch.cat([best_rows, where + begin], dim=1)
        keep = best_scores.topk(min(top, best_scores.shape[1]), dim=1).indices
        best_scores, best_rows = best_scores.gather(1, keep), best_rows.gather(1, keep)
    return best_scores.numpy(), best_rows.numpy()


def build_ivf(rows: np.ndarray, nprobe: int, seed: int = 0):
    """A faiss inverted-file index (inner product) over ``rows`` [N, D]: ``4·√N`` lists trained
    on a sample of at most 256 rows per list, ``nprobe`` lists probed per query."""
    require("search", f"searching {len(rows):,} clips (the approximate index)")
    import faiss

    dim = rows.shape[1]
    lists = max(1, int(4 * math.sqrt(len(rows))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(seed).permutation(len(rows))[: lists * 256]
    index.train(np.ascontiguousarray(rows[sample]))
    index.add(np.ascontiguousarray(rows))
    index.nprobe = nprobe
    return index

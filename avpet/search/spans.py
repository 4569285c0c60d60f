"""Which spans of the indexed videos go with a query of several clips.

A query of ``K`` clips of one modality, in order, is compared with every candidate span of ``K``
successive clips of one video in the other modality, clip for clip, by the cosine of the two
sequences: each clip centred on its modality's mean over the index (what all clips share says
nothing about which ones match; the evaluation centres the same way,
:func:`avpet.eval.retrieval.similarity`), the ``K`` clips concatenated. A clip near the average
(silence, a still face) so weighs little, and the score is one cosine in [-1, 1]. A span lies
inside its video; a video shorter than the query is compared whole, at every offset where it fits
inside the query (the missing clips count as zeros). One clip (``K = 1``) is a span of one.

Candidates: each query clip's :data:`CANDIDATES` nearest rows (:meth:`ClipIndex.search`, exact or
approximate) vote for the span they imply; the :data:`RESCORED` spans (or ``top``, if more) with
the most votes are scored exactly. A video's rows are its clips in order, ``ClipIndex.stride``
apart, as :mod:`.indexing` writes them; the query's clips must be as far apart.
"""

from __future__ import annotations

import numpy as np

from .index import ClipIndex, Hit

CANDIDATES = 50  # nearest rows per query clip
RESCORED = 200  # spans scored exactly
_CHUNK = 1 << 22  # span clips gathered at once (floats: 16 MiB per 4 Mi values)


def find_spans(index: ClipIndex, queries: np.ndarray, modality: str, top: int = 5) -> list[Hit]:
    """The ``top`` spans of ``index`` whose other modality goes with ``queries`` ``[K, dim]``:
    ``K`` clips of ``modality`` in order, ``index.stride`` apart. A hit spans ``K`` clips."""
    other = "audio" if modality == "visual" else "visual"
    query = _centred(queries, index.centre(modality))
    scores, rows = index.search(query, other, top=CANDIDATES)
    spans = _candidates(index, scores, rows, len(query), max(RESCORED, top))
    exact = span_cosines(index, query, spans, other)
    best = np.argsort(-exact, kind="stable")[:top]
    first, count = index.video_rows()
    hits = []
    for (video, position), score in zip(spans[best], exact[best], strict=True):
        row = first[video] + max(position, 0)
        clip = float(index.ends[row] - index.starts[row])
        stride = index.stride or clip
        begin = max(float(index.starts[row]) + min(position, 0) * stride, 0.0)
        last_end = float(index.ends[first[video] + count[video] - 1])
        end = min(begin + (len(query) - 1) * stride + clip, last_end)  # never past the file
        hits.append(Hit(index.videos[video], begin, end, float(score)))
    return hits


def distinct(hits: list[Hit], top: int) -> list[Hit]:
    """The ``top`` best ``hits``, leaving out a hit that overlaps a better one of its video by
    half their union or more (the same span found twice)."""
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: -h.score):
        if not any(k.video == hit.video and overlap(k, hit) >= 0.5 for k in kept):
            kept.append(hit)
    return kept[:top]


def overlap(a: Hit, b: Hit) -> float:
    """Intersection over union of two hits' time spans."""
    inter = max(0.0, min(a.end, b.end) - max(a.start, b.start))
    return inter / max(a.end - a.start + b.end - b.start - inter, 1e-9)


def _centred(rows: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``rows`` ``[K, D]`` L2-normalised, then ``centre`` subtracted."""
    rows = np.asarray(rows, np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12) - centre


def _candidates(
    index: ClipIndex, scores: np.ndarray, rows: np.ndarray, length: int, keep: int
) -> np.ndarray:
    """Spans ``[S, 2]`` of ``length`` clips (video, position of the span's first clip in it;
    negative when a short video starts inside the span) that query clip ``k`` matching row
    ``rows[k, j]`` implies, the ``keep`` with the largest summed ``scores`` first."""
    first, count = index.video_rows()
    found = rows >= 0
    videos = index.video_ids[rows[found]]
    positions = rows[found] - first[videos] - np.nonzero(found)[0]  # minus the query clip k
    overlap = np.minimum(positions + length, count[videos]) - np.maximum(positions, 0)
    fits = overlap == np.minimum(length, count[videos])  # inside, or the whole short video
    spans, where = np.unique(
        np.stack([videos[fits], positions[fits]], 1), axis=0, return_inverse=True
    )
    votes = np.bincount(where.ravel(), weights=scores[found][fits], minlength=len(spans))
    return spans[np.argsort(-votes, kind="stable")[:keep]]


def span_cosines(
    index: ClipIndex, query: np.ndarray, spans: np.ndarray, modality: str
) -> np.ndarray:
    """Cosine ``[S]`` of the centred ``query`` ``[K, D]`` with each span's centred ``modality``
    clips, concatenated (clips past the video's ends: zeros); ``spans`` as :func:`_candidates`."""
    first, count = index.video_rows()
    embeddings = index.embeddings[modality]
    centre = index.centre(modality)
    k = len(query)
    positions = spans[:, 1:2] + np.arange(k)  # [S, K]
    inside = (positions >= 0) & (positions < count[spans[:, :1]])
    rows = np.where(inside, first[spans[:, :1]] + positions, 0)
    out = np.zeros(len(spans), np.float64)
    step = max(1, _CHUNK // (k * query.shape[1]))
    for begin in range(0, len(spans), step):
        part = slice(begin, begin + step)
        clips = (embeddings[rows[part]] - centre) * inside[part, :, None]  # [s, K, D]
        dots = np.einsum("skd,kd->s", clips, query)
        norms = np.linalg.norm(clips.reshape(len(clips), -1), axis=1) * np.linalg.norm(query)
        out[part] = dots / np.maximum(norms, 1e-12)
    return out

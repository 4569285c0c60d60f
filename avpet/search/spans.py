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
apart, as :mod:`.indexing` writes them.

Phases: a query's start rarely falls on a clip start of the video it comes from, and the joint
space is sharp in time (a query half a stride off the grid loses its span; docs/search.md), so a
query is cut ``phases`` times per stride: phase ``j`` (clips ``j``, ``j + phases``, ...) lines up
with the rows when the query starts ``j·stride/phases`` before a clip start. Every phase keeps as
many clips as the shortest (a cosine over fewer clips scatters more). A span found by phase ``j``
at row ``m`` puts the query's start at ``m·phases - j`` steps of ``stride/phases``, kept where the
query lies inside the video or the video inside the query (a query as long as a short video
lines up with it at its start only: slid along, a wrong video of that length matches a part of
the query); its score is the mean of the scores at that step and the steps either side (weights
1/4, 1/2, 1/4), so one lucky phase of a wrong video weighs less than a span that holds a frame
either way.
"""

from __future__ import annotations

import numpy as np

from .index import ClipIndex, Hit

CANDIDATES = 50  # nearest rows per query clip
RESCORED = 200  # spans scored exactly
_CHUNK = 1 << 22  # span clips gathered at once (floats: 16 MiB per 4 Mi values)


def find_spans(
    index: ClipIndex,
    queries: np.ndarray,
    modality: str,
    top: int | None = 5,
    phases: int = 1,
) -> list[Hit]:
    """The ``top`` spans (``None``: every candidate) of ``index`` whose other modality goes with
    ``queries`` ``[N, dim]``: clips of ``modality`` in order, ``index.stride / phases`` apart
    (see the module docstring), best first; overlapping spans are all listed (:func:`distinct`).
    """
    other = "audio" if modality == "visual" else "visual"
    count = min(phases, len(queries))
    if count == 0:
        return []
    length = len(queries[count - 1 :: phases])  # the last phase is the shortest
    centre = index.centre(modality)
    cuts = [_centred(queries[j::phases][:length], centre) for j in range(count)]
    found = []
    for j, cut in enumerate(cuts):
        scores, rows = index.search(cut, other, top=CANDIDATES)
        spans = _candidates(index, scores, rows, length, max(RESCORED, top or 0))
        found.append(np.stack([spans[:, 0], spans[:, 1] * phases - j], 1))
    steps = np.unique(np.concatenate(found), axis=0)
    step = (index.stride or float(index.ends[0] - index.starts[0]) if len(index) else 1.0) / phases
    steps = steps[_placed(index, steps, len(queries), step)]
    score = _step_scores(index, cuts, steps, phases, other)
    if count > 1:  # a step either way too, where the query has that phase
        values = np.stack(
            [score, *(_step_scores(index, cuts, steps + [0, d], phases, other) for d in (-1, 1))]
        )
        weights = np.array([[0.5], [0.25], [0.25]]) * np.isfinite(values)
        score = (weights * np.nan_to_num(values)).sum(0) / weights.sum(0)
    best = np.argsort(-score, kind="stable")[:top]
    first, rows = index.video_rows()
    hits = []
    for (video, step), value in zip(steps[best], score[best], strict=True):
        head, last = first[video], first[video] + rows[video] - 1
        clip = float(index.ends[head] - index.starts[head])
        stride = index.stride or clip
        begin = max(float(index.starts[head]) + step * stride / phases, 0.0)
        end = min(begin + (length - 1) * stride + clip, float(index.ends[last]))  # never past
        hits.append(Hit(index.videos[video], begin, end, float(value)))
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


def _placed(index: ClipIndex, steps: np.ndarray, clips: int, step: float) -> np.ndarray:
    """Which ``steps`` rows (video, the query's start in ``step`` seconds) put the query, ``clips``
    clips ``step`` apart, inside the video (every clip starts in it) or the video inside the
    query: a query as long as a video lines up with it only at its start."""
    first, rows = index.video_rows()
    head, last = first[steps[:, 0]], first[steps[:, 0]] + rows[steps[:, 0]] - 1
    length = index.ends[last] - index.starts[head]
    start = steps[:, 1] * step
    inside = (start >= -1e-6) & (start + (clips - 1) * step < length - 1e-6)
    around = (start <= 1e-6) & (start + clips * step >= length - 1e-6)
    return inside | around


def _step_scores(
    index: ClipIndex, cuts: list[np.ndarray], steps: np.ndarray, phases: int, modality: str
) -> np.ndarray:
    """Score ``[S]`` of each ``steps`` row (video, the query's start in steps of
    ``stride/phases``): the phase that lines up there against the span it lines up with; NaN
    where the query has no such phase."""
    phase = -steps[:, 1] % phases
    out = np.full(len(steps), np.nan)
    for j, cut in enumerate(cuts):
        chosen = phase == j
        if chosen.any():
            spans = np.stack([steps[chosen, 0], (steps[chosen, 1] + j) // phases], 1)
            out[chosen] = span_cosines(index, cut, spans, modality)
    return out


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

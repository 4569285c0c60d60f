"""Spans: a query of consecutive clips against aligned spans of the index's videos."""

from __future__ import annotations

import numpy as np
import pytest

from avpet.search.index import ClipIndex
from avpet.search.spans import find_spans

DIM = 16


def _index(lengths=(6, 9, 4), seed: int = 0) -> tuple[ClipIndex, list[np.ndarray]]:
    """Videos whose audio and visual rows are the same random clips plus a large shared part."""
    rng = np.random.default_rng(seed)
    shared = 3 * rng.standard_normal(DIM)
    index, clips = ClipIndex("m", "tokens", DIM), []
    for v, n in enumerate(lengths):
        x = (shared + rng.standard_normal((n, DIM))).astype(np.float32)
        starts = np.arange(n) * 0.64
        index.add(f"video{v}.mp4", starts, starts + 0.64, {"visual": x, "audio": x})
        clips.append(x)
    return index, clips


def test_a_query_cut_from_a_video_finds_its_span_with_cosine_one():
    index, clips = _index()
    best = find_spans(index, clips[1][3:7], "audio", top=3)[0]
    assert best.video == "video1.mp4" and (best.start, best.end) == pytest.approx((1.92, 4.48))
    assert best.score == pytest.approx(1.0, abs=1e-5)
    one = find_spans(index, clips[2][1:2], "visual", top=1)[0]  # one clip: a span of one
    assert (one.video, one.start, one.score) == ("video2.mp4", 0.64, pytest.approx(1.0, abs=1e-5))


def test_a_span_stays_inside_its_video_and_a_short_video_is_compared_whole():
    index, clips = _index()
    query = np.concatenate([clips[2], np.tile(index.centre("audio"), (2, 1))])
    best = find_spans(index, query, "audio", top=2)  # video2's 4 clips, then 2 average ones
    # the span is the whole video, never past its end (6 clips would reach 3.84 s)
    assert (best[0].video, best[0].start, best[0].end) == ("video2.mp4", 0.0, pytest.approx(2.56))
    assert best[0].score > 0.99 > 0.5 > best[1].score  # the average clips weigh next to nothing
    stitched = find_spans(index, np.concatenate([clips[0][4:], clips[1][:2]]), "audio", top=50)
    # the end of video0 and the start of video1 make no span: every hit lies inside its video
    length = {"video0.mp4": 6 * 0.64, "video1.mp4": 9 * 0.64, "video2.mp4": 4 * 0.64}
    assert len(stitched) == 3 + 6 + 1  # every span of 4 clips inside a video
    assert all(h.start >= 0 and h.end <= length[h.video] + 1e-9 for h in stitched)
    assert all(h.score < 0.8 for h in stitched)


def test_a_query_off_the_clip_grid_is_placed_by_the_phase_that_lines_up():
    rng = np.random.default_rng(1)
    fine = (3 * rng.standard_normal(DIM) + rng.standard_normal((48, DIM))).astype(np.float32)
    index = ClipIndex("m", "tokens", DIM, stride=0.32)  # rows every 4th fine clip, 0.08 s apart
    starts = np.arange(12) * 0.32
    index.add("video.mp4", starts, starts + 0.64, {"visual": fine[::4], "audio": fine[::4]})
    for offset in (8, 9, 11):  # on the grid, a quarter and three quarters of a stride off it
        best = find_spans(index, fine[offset : offset + 24], "audio", top=1, phases=4)[0]
        assert best.start == pytest.approx(offset * 0.08) and best.end <= 12 * 0.32 + 0.32 + 1e-9


def test_the_centre_follows_the_rows():
    index, clips = _index()
    rows = np.concatenate(clips)
    expected = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).mean(0)
    np.testing.assert_allclose(index.centre("visual"), expected, rtol=1e-5, atol=1e-6)
    index.remove("video0.mp4")
    rows = np.concatenate(clips[1:])
    expected = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).mean(0)
    np.testing.assert_allclose(index.centre("visual"), expected, rtol=1e-5, atol=1e-6)
    assert len(index.video_rows()[0]) == 2 and index.video_rows()[1].tolist() == [9, 4]
    assert find_spans(ClipIndex("m", "tokens", DIM), clips[0], "audio") == []


def test_beyond_the_exact_limit_the_inverted_file_proposes_the_spans():
    pytest.importorskip("faiss")
    index, clips = _index((60, 80, 50))
    exact = find_spans(index, clips[1][20:30], "audio", top=3)
    index.exact_limit = 100  # 190 rows: the inverted file answers
    assert find_spans(index, clips[1][20:30], "audio", top=3) == exact
    assert "visual" in index._approximate and exact[0].start == pytest.approx(20 * 0.64)


def test_distinct_hits_leave_out_the_same_span_found_twice():
    from avpet.search.index import Hit
    from avpet.search.spans import distinct, overlap

    a, b = Hit("v.mp4", 1.0, 3.0, 0.9), Hit("v.mp4", 1.2, 3.2, 0.8)  # IoU 1.8 / 2.2
    c, d = Hit("v.mp4", 2.5, 4.5, 0.7), Hit("w.mp4", 1.0, 3.0, 0.6)
    assert overlap(a, b) == pytest.approx(1.8 / 2.2) and overlap(a, c) == pytest.approx(0.5 / 3.5)
    assert distinct([d, b, c, a], top=5) == [a, c, d]
    assert distinct([d, b, c, a], top=2) == [a, c]

"""The clip index: rows in and out, exact and approximate search, its files."""

from __future__ import annotations

import numpy as np
import pytest

from avpet.errors import IndexFileError
from avpet.search.index import ClipIndex, exact_search

DIM = 16


def _clustered(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(rows // 20, 1), DIM))
    x = centres[rng.integers(0, len(centres), rows)] + 0.3 * rng.standard_normal((rows, DIM))
    return x.astype(np.float32)


def _index(videos: int = 3, clips: int = 4, seed: int = 0) -> tuple[ClipIndex, dict]:
    rng = np.random.default_rng(seed)
    index, data = ClipIndex("avpet_small_mid_lowrank", "tokens", DIM), {}
    for v in range(videos):
        emb = {m: rng.standard_normal((clips, DIM)).astype(np.float32) for m in ("visual", "audio")}
        starts = np.arange(clips) * 0.64
        index.add(f"video{v}.mp4", starts, starts + 0.64, emb, [1.0, 2.0])
        data[f"video{v}.mp4"] = emb
    return index, data


def test_a_clip_finds_itself_and_rows_follow_their_video():
    index, data = _index()
    scores, rows = index.search(data["video1.mp4"]["audio"][2:3] * 5, "audio", top=3)
    hit = index.hits(rows[0], scores[0])[0]
    assert (hit.video, hit.start, hit.end) == ("video1.mp4", 1.28, 1.92)
    assert hit.score == pytest.approx(1.0, abs=1e-5)  # normalised: the scale does not matter
    index.remove("video0.mp4")
    assert index.videos == ["video1.mp4", "video2.mp4"] and len(index) == 8
    scores, rows = index.search(data["video2.mp4"]["visual"][0:1], "visual", top=1)
    assert index.hits(rows[0], scores[0])[0].video == "video2.mp4"
    index.add(
        "video2.mp4", [0.0], [0.64], {m: data["video1.mp4"][m][:1] for m in data["video1.mp4"]}
    )
    assert len(index) == 5 and index.videos == ["video1.mp4", "video2.mp4"]


def test_exact_search_in_chunks_equals_one_matrix_product():
    rows, queries = _clustered(1000, 0), _clustered(7, 1)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    scores, found = exact_search(rows, queries, 10, chunk=97)
    expected = np.argsort(-(queries @ rows.T), axis=1)[:, :10]
    assert (found == expected).all()
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ rows.T, expected, 1), rtol=1e-5)


def test_beyond_the_exact_limit_the_inverted_file_agrees_with_exact_search():
    pytest.importorskip("faiss")
    index = ClipIndex("m", "joint", DIM, exact_limit=500, nprobe=16)
    data = _clustered(4000, 2)
    index.add("big.mp4", np.arange(4000.0), np.arange(4000.0) + 1, {"visual": data, "audio": data})
    queries = _clustered(50, 3)
    approximate = index.search(queries, "visual", top=10)[1]
    assert "visual" in index._approximate  # the inverted file answered
    exact = exact_search(
        index.embeddings["visual"], queries / np.linalg.norm(queries, axis=1, keepdims=True), 10
    )[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approximate, exact, strict=True)])
    assert recall >= 0.95


def test_files_round_trip_and_damage_is_named(tmp_path):
    index, data = _index()
    index.pretrained, index.roi, index.stride = "local-dir:hub/x", [1, 2, 3, 4], 0.32
    folder = index.save(tmp_path / "idx")
    back = ClipIndex.load(folder)
    assert (back.model, back.level, back.dim, back.pretrained, back.roi, back.stride) == (
        index.model, index.level, DIM, "local-dir:hub/x", [1, 2, 3, 4], 0.32
    )  # fmt: skip
    assert back.crop == (1, 2, 3, 4)  # as extract_features takes it
    assert back.videos == index.videos and back.stamps == index.stamps
    for m in ("visual", "audio"):
        np.testing.assert_array_equal(back.embeddings[m], index.embeddings[m])
    (folder / "clips.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(IndexFileError, match="idx"):
        ClipIndex.load(folder)
    with pytest.raises(IndexFileError, match="not a readable avpet index"):
        ClipIndex.load(tmp_path / "nowhere")

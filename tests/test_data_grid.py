"""GRID corpus: align parsing, the fixed split, word windows (avpet.data.grid)."""

import pytest

from avpet.data import grid
from avpet.errors import ConfigError, MediaError


def test_read_align_drops_silences_and_converts_units(data_dir):
    words = grid.read_align(data_dir / "grid_s1" / "align" / "bbaf2n.align")
    assert [w.text for w in words] == ["bin", "blue", "at", "f", "two", "now"]
    assert words[1].start == pytest.approx(29500 / 25000)
    assert words[1].end == pytest.approx(34000 / 25000)


def test_read_align_rejects_bad_files(tmp_path):
    bad = tmp_path / "x.align"
    bad.write_text("0 100 sil\n100 200 bin\n")
    with pytest.raises(MediaError, match="x.align.*expected 6 words"):
        grid.read_align(bad)
    bad.write_text("0 abc bin\n")
    with pytest.raises(MediaError, match="line 1"):
        grid.read_align(bad)


def test_clip_without_align_is_named(tmp_path, data_dir):
    (tmp_path / "video").mkdir()
    (tmp_path / "align").mkdir()
    src = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    (tmp_path / "video" / "bbaf2n.mp4").symlink_to(src)
    with pytest.raises(MediaError, match="bbaf2n.mp4: no align file"):
        grid.find_clips(tmp_path / "video")


def test_split_is_fixed_disjoint_and_independent_of_other_clips(grid_clips):
    train, test = grid.split_clips(grid_clips, 0.8)
    train_ids, test_ids = {c.id for c in train}, {c.id for c in test}
    assert not train_ids & test_ids
    assert train_ids | test_ids == {c.id for c in grid_clips}
    assert 0.75 < len(train) / len(grid_clips) < 0.85
    # the same split again, and on a shuffled subset: membership depends on the id alone
    again = grid.split_clips(list(reversed(grid_clips[::3])), 0.8)
    assert {c.id for c in again[0]} == train_ids & {c.id for c in grid_clips[::3]}
    with pytest.raises(ConfigError):
        grid.split_clips(grid_clips, 1.0)


def test_word_slots_hold_the_probed_words():
    assert grid.word_slots(4) == [1, 2, 3, 4]
    assert grid.word_slots(5) == [1, 2, 3, 4, 5]
    assert grid.word_slots(6) == [0, 1, 2, 3, 4, 5]
    for bad in (3, 7):
        with pytest.raises(ConfigError):
            grid.word_slots(bad)


def test_clips_are_centred_on_their_words(grid_clips):
    clip = grid_clips[0]
    starts = grid.clip_starts(clip, [1, 3], clip_seconds=0.64)
    for start, slot in zip(starts, [1, 3], strict=True):
        assert start + 0.32 == pytest.approx(clip.words[slot].centre)

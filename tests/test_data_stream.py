"""``avpet.data.stream``: whole files as clip windows, and the forward-only readers under it."""

from __future__ import annotations

import math

import pytest
import torch

from avpet.data import create_transform, load_sample, resolve_data_config
from avpet.data.io import AudioStream, decode_audio, open_media, probe
from avpet.data.stream import Coverage, MediaStream
from avpet.errors import ConfigError, MediaError

MODEL = "avpet_small_mid_lowrank"


@pytest.fixture(scope="module")
def transform():
    return create_transform(resolve_data_config(MODEL, backend="pyav"))


def test_default_coverage_is_consecutive_clips_to_the_end():
    starts = Coverage().starts("x.mp4", 3.0, 0.64)
    assert starts == pytest.approx([0.0, 0.64, 1.28, 1.92, 2.56])  # the last runs past 3.0 s
    assert Coverage(stride=1.0, start=0.5, end=2.0).starts("x", 3.0, 0.64) == [0.5, 1.5]
    assert Coverage(max_clips=3).starts("x", 10.0, 1.0) == pytest.approx([0.0, 4.5, 9.0])
    assert Coverage().starts("x", 0.2, 0.64) == [0.0]  # shorter than one clip: one padded clip
    with pytest.raises(MediaError, match="past its end"):
        Coverage(start=5.0).starts("x", 3.0, 0.64)
    with pytest.raises(ConfigError):
        Coverage(stride=0)


def test_windows_match_the_loader_on_the_same_clips(data_dir, transform):
    clip = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    with MediaStream(clip, transform, Coverage(), window=4) as stream:
        windows = list(stream)
    assert [len(w.start) for w in windows] == [4, 1] and stream.num_windows == 2
    sample = load_sample(clip, transform, starts=windows[0].start.tolist())
    torch.testing.assert_close(windows[0].visual, sample["visual"])
    torch.testing.assert_close(windows[0].audio, sample["audio"])
    assert torch.equal(windows[0].end, windows[0].start + 0.64)
    last = windows[1].visual[0]  # starts at 2.56 s, runs past 3.0 s: the last frame repeats
    assert torch.equal(last[:, -1], last[:, -2])


def test_audio_only_and_video_only_files(data_dir, tmp_path, transform):
    wav = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))[0]
    with MediaStream(wav, transform, Coverage(), window=4) as stream:
        (window,) = list(stream)
    assert not stream.has_visual and stream.has_audio and window.visual is None
    assert window.audio.shape[1:] == (1, 48, 96)
    assert len(window.start) == math.ceil(probe(wav, audio_only=True).duration / 0.64)
    silent = data_dir / "media" / "h264_no_audio.mp4"
    with MediaStream(silent, transform, Coverage(), window=4) as stream:
        assert all(w.audio is None and w.visual is not None for w in stream)
    with pytest.raises(MediaError, match="no video stream"):
        probe(wav)


def test_audio_stream_pieces_equal_the_whole_decode(data_dir):
    info = probe(data_dir / "media" / "bigbuckbunny_5p1_audio.mp4")
    whole = decode_audio(info, 16000, info.duration + 5)  # the track's end, then silence
    assert not whole[-16000:].any()
    with AudioStream(info, 16000) as stream:
        pieces = [stream.read(begin, 7000) for begin in range(0, len(whole), 5000)]
        with pytest.raises(ValueError, match="forward only"):
            stream.read(0, 10)
    for k, piece in enumerate(pieces):
        expected = whole[k * 5000 : k * 5000 + 7000]
        torch.testing.assert_close(piece[: len(expected)], expected)
        assert not piece[len(expected) :].any()  # zeros past the end


def test_pyav_overlapping_requests_decode_once(data_dir):
    clip = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    with open_media(clip, backend="pyav") as reader, open_media(clip, backend="pyav") as fresh:
        first = reader.frames(list(range(10, 20)))
        restarts = []
        reader._restart = lambda: restarts.append(1)  # noqa: SLF001  (must not be called)
        overlap = reader.frames(list(range(15, 30, 2)))
        assert not restarts
        torch.testing.assert_close(overlap, fresh.frames(list(range(15, 30, 2))))
        assert first.shape[0] == 10

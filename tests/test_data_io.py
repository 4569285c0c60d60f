"""Readers on real and deliberately broken files: decord/PyAV parity, stream choice, awkward
input (docs/data.md)."""

from __future__ import annotations

import gc
import os
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from avpet.data import create_transform, load_sample, open_media, probe, resolve_data_config
from avpet.data import io as media_io
from avpet.errors import MediaError

GRID_CLIP = "grid_s1/video/bbaf2n.mp4"
MEDIA = [
    "grid_mpeg1_mp2.mpg",
    "nasa_multistream.mp4",
    "mpeg4_mp3.avi",
    "h264_no_audio.mp4",
    "bigbuckbunny_5p1_audio.mp4",
]


def small_transform(**overrides) -> object:
    return create_transform(resolve_data_config("avpet_small_mid_lowrank", **overrides))


def write_video(path: Path, size: tuple[int, int], pts_ms: list[int], audio: bool = False) -> Path:
    """An MPEG-4 video whose frame ``i`` is flat grey ``12 * i``, shown at ``pts_ms[i]``; with
    ``audio``, a 440 Hz AAC mono 16 kHz track as long as the video."""
    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        sound = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        for i, pts in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(
                np.full((height, width, 3), 12 * i, np.uint8), format="rgb24"
            )
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            t = np.arange(16 * (pts_ms[-1] + 40)) / 16000
            wave = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(wave) - 1023, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    wave[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, Fraction(1, 16000)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


def test_decord_and_pyav_return_identical_frames_on_grid(data_dir):
    path = data_dir / GRID_CLIP
    indices = [0, 2, 3, 37, 38, 74]
    with open_media(path, "decord") as a, open_media(path, "pyav") as b:
        assert (a.backend, b.backend) == ("decord", "pyav")
        frames_decord, frames_pyav = a.frames(indices), b.frames(indices)
    assert frames_decord.shape == (6, 288, 360, 3) and frames_decord.dtype == torch.uint8
    assert torch.equal(frames_decord, frames_pyav)


def test_decord_and_pyav_give_identical_samples(data_dir):
    path = data_dir / GRID_CLIP
    a = load_sample(path, small_transform(backend="decord"))
    b = load_sample(path, small_transform(backend="pyav"))
    assert torch.equal(a["visual"], b["visual"]) and torch.equal(a["audio"], b["audio"])
    assert torch.equal(a["starts"], b["starts"])


@pytest.mark.parametrize("name", ["nasa_multistream.mp4", "bigbuckbunny_5p1_audio.mp4"])
def test_parity_on_other_mp4_files(data_dir, name):
    path = data_dir / "media" / name
    n = probe(path).num_frames
    indices = [0, 5, n // 2, n - 1]
    with open_media(path, "decord") as a, open_media(path, "pyav") as b:
        assert torch.equal(a.frames(indices), b.frames(indices))


@pytest.mark.parametrize("name", ["mpeg4_mp3.avi", "grid_mpeg1_mp2.mpg"])
def test_auto_uses_pyav_outside_mp4_and_matroska(data_dir, name):
    """decord 0.6 now and then returns a stale frame after a long seek in AVI, and decodes MPEG-1
    with an older FFmpeg: auto reads these containers with PyAV."""
    path = data_dir / "media" / name
    with open_media(path, "auto") as auto, open_media(path, "pyav") as pyav:
        assert auto.backend == "pyav"
        assert torch.equal(auto.frames([0, 3, 50]), pyav.frames([0, 3, 50]))


def test_mpeg1_decoders_differ_only_slightly(data_dir):
    """decord bundles an older FFmpeg whose MPEG-1 IDCT drifts from PyAV's (documented)."""
    path = data_dir / "media" / "grid_mpeg1_mp2.mpg"
    with open_media(path, "decord") as a, open_media(path, "pyav") as b:
        diff = (a.frames([0, 10, 74]).float() - b.frames([0, 10, 74]).float()).abs()
    assert 0 < diff.mean() < 8


def test_auto_falls_back_when_decord_is_missing(data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "decord", None)
    with open_media(data_dir / GRID_CLIP, "auto") as reader:
        assert reader.backend == "pyav"
    with pytest.raises(MediaError, match="decord is not installed"):
        open_media(data_dir / GRID_CLIP, "decord")


def test_auto_falls_back_when_decord_fails(data_dir, monkeypatch):
    import decord

    def broken(*args, **kwargs):
        raise decord.DECORDError("simulated failure")

    monkeypatch.setattr(decord, "VideoReader", broken)
    with open_media(data_dir / GRID_CLIP, "auto") as reader:
        assert reader.backend == "pyav"
        assert reader.frames([0]).shape == (1, 288, 360, 3)
    with pytest.raises(MediaError, match="decord failed.*simulated failure"):
        open_media(data_dir / GRID_CLIP, "decord")


def test_a_hanging_decoder_call_times_out():
    import threading

    release = threading.Event()
    with pytest.raises(MediaError, match="did not answer within 0.2 s"):
        media_io._with_timeout(release.wait, 0.2, "x.mp4")
    release.set()


def test_stream_choice_in_multistream_file(data_dir):
    info = probe(data_dir / "media" / "nasa_multistream.mp4")
    # FFmpeg's default choice: the 480x270 29.97 fps video and the 16 kHz stereo audio.
    assert (info.video_stream, info.audio_stream) == (3, 4)
    assert (info.width, info.height, info.audio_rate) == (480, 270, 16000)
    assert info.fps == pytest.approx(30000 / 1001)


def test_51_audio_is_downmixed_and_resampled(data_dir):
    path = data_dir / "media" / "bigbuckbunny_5p1_audio.mp4"
    info = probe(path)
    assert (info.audio_channels, info.audio_rate) == (6, 48000)
    with open_media(path) as reader:
        wave = reader.audio(16000, info.duration)
    assert wave.shape == (round(info.duration * 16000),) and wave.dtype == torch.float32
    assert torch.isfinite(wave).all() and wave.abs().max() > 0.05


def test_audio_windows_equal_slices_of_the_whole_waveform(data_dir):
    """Streamed windows are the same samples as the whole decode; past the track they are zero."""
    path = data_dir / "media" / "bigbuckbunny_5p1_audio.mp4"
    with open_media(path) as reader:
        whole = reader.audio(16000, reader.info.duration)
        begins = [0, 12345, len(whole) - 100, 10 * len(whole)]
        windows = reader.audio_windows(16000, begins, 1000)
    assert windows.shape == (4, 1000)
    assert torch.equal(windows[0], whole[:1000]) and torch.equal(windows[1], whole[12345:13345])
    assert torch.equal(windows[2, :100], whole[-100:]) and windows[3].eq(0).all()


@pytest.mark.parametrize("name", MEDIA)
def test_every_shared_media_file_loads(data_dir, name):
    sample = load_sample(data_dir / "media" / name, small_transform())
    assert sample["visual"].shape == (4, 3, 8, 64, 64)
    assert sample["audio"].shape == (4, 1, 48, 96)
    assert torch.isfinite(sample["visual"]).all() and torch.isfinite(sample["audio"]).all()
    assert sample["has_audio"] == (name != "h264_no_audio.mp4")
    assert torch.all(sample["starts"][1:] >= sample["starts"][:-1])


def test_no_audio_gives_silence_or_error(data_dir):
    path = data_dir / "media" / "h264_no_audio.mp4"
    sample = load_sample(path, small_transform())
    assert not sample["has_audio"]
    assert torch.allclose(sample["audio"], torch.full_like(sample["audio"], float(np.log(1e-6))))
    with pytest.raises(MediaError, match="h264_no_audio.mp4: no audio stream"):
        load_sample(path, small_transform(missing_audio="error"))


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="missing.mp4: no such file"):
        load_sample(tmp_path / "missing.mp4", small_transform())


@pytest.mark.parametrize(
    "content", [b"this is a text file, not a video\n", bytes(range(256)) * 64, b""]
)
def test_non_media_and_corrupt_files(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match="bad.mp4: not a readable media file"):
        load_sample(path, small_transform())


def test_random_bytes_after_a_real_header(data_dir, tmp_path):
    head = (data_dir / GRID_CLIP).read_bytes()[:64]
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(head + np.random.default_rng(0).bytes(50_000))
    with pytest.raises(MediaError, match="corrupt.mp4: "):
        load_sample(path, small_transform())


@pytest.mark.parametrize("fraction", [0.3, 0.95])
def test_truncated_mp4_is_a_clear_error(data_dir, tmp_path, fraction):
    data = (data_dir / GRID_CLIP).read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MediaError, match="truncated.mp4: "):
        load_sample(path, small_transform())


def test_truncated_avi_keeps_what_is_there(data_dir, tmp_path):
    data = (data_dir / "media" / "mpeg4_mp3.avi").read_bytes()
    path = tmp_path / "truncated.avi"
    path.write_bytes(data[: len(data) // 2])
    full, half = probe(data_dir / "media" / "mpeg4_mp3.avi"), probe(path)
    assert half.num_frames < full.num_frames
    sample = load_sample(path, small_transform())
    assert sample["starts"].max() + 0.64 <= half.duration + 1e-6


def test_shorter_than_one_clip(tmp_path):
    path = write_video(tmp_path / "short.mp4", (64, 48), [40 * i for i in range(10)])  # 0.4 s
    with pytest.raises(MediaError, match=r"short.mp4: video lasts 0.400 s, shorter than one clip"):
        load_sample(path, small_transform())


def test_variable_frame_rate_is_sampled_by_timestamp(tmp_path):
    pts = [0, 20, 80, 100, 160, 180, 240, 260, 320, 340, 400, 420, 480, 500, 560, 580, 640, 660]
    path = write_video(tmp_path / "vfr.mp4", (64, 48), pts)
    info = probe(path)
    assert np.allclose(info.frame_times, np.array(pts) / 1000)
    transform = small_transform(num_clips=1, mean=(0.0,) * 3, std=(1.0,) * 3)
    sample = load_sample(path, transform, starts=[0.0])
    grey = sample["visual"][0, 0, :, 32, 32] * 255  # [F]
    wanted = [max(i for i, p in enumerate(pts) if p <= 80 * k) for k in range(8)]  # 12.5 fps
    assert torch.allclose(grey, 12 * torch.tensor(wanted, dtype=torch.float32), atol=4)


def test_huge_resolution_is_resized_or_refused(tmp_path):
    path = write_video(tmp_path / "huge.mp4", (3840, 2160), [100 * i for i in range(8)])
    sample = load_sample(path, small_transform(num_clips=1))
    assert sample["visual"].shape == (1, 3, 8, 64, 64)
    with pytest.raises(MediaError, match="huge.mp4: 3840x2160 frames exceed max_pixels"):
        load_sample(path, small_transform(max_pixels=1920 * 1080))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_500_reads_leak_neither_file_descriptors_nor_memory(tmp_path, backend):
    path = write_video(tmp_path / "small.mp4", (64, 48), [40 * i for i in range(20)], audio=True)

    def read() -> None:
        with open_media(path, backend) as reader:
            assert reader.frames([0, 10, 19]).shape == (3, 48, 64, 3)
            assert reader.audio(16000, 0.8).abs().max() > 0.1

    for _ in range(20):  # warm up allocator pools and codec tables
        read()
    gc.collect()
    fds, rss = _open_fds(), _rss_mb()
    for _ in range(500):
        read()
    gc.collect()
    assert _open_fds() == fds
    assert _rss_mb() - rss < 20, f"RSS grew from {rss:.0f} MB to {_rss_mb():.0f} MB"

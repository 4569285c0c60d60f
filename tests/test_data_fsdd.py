"""FSDD corpus: recording names, reading and centred clips (avpet.data.fsdd)."""

import pytest
import torch

from avpet.data import fsdd
from avpet.errors import ConfigError, MediaError


def test_find_recordings_subsets_per_speaker_and_digit(data_dir):
    recordings = fsdd.find_recordings(data_dir / "fsdd", per_digit=2)
    assert len(recordings) == 6 * 10 * 2
    assert {r.index for r in recordings} == {0, 1}
    assert all(r.path.stem == f"{r.digit}_{r.speaker}_{r.index}" for r in recordings)
    with pytest.raises(ConfigError):
        fsdd.find_recordings(data_dir / "fsdd", per_digit=0)


def test_bad_names_and_files_are_named(tmp_path):
    (tmp_path / "hello.wav").write_bytes(b"RIFF")
    with pytest.raises(MediaError, match="hello.wav: FSDD names"):
        fsdd.find_recordings(tmp_path)
    with pytest.raises(MediaError, match="hello.wav: not a readable audio file"):
        fsdd.read_waveform(tmp_path / "hello.wav", 16000)
    with pytest.raises(MediaError, match="missing.wav: no such file"):
        fsdd.read_waveform(tmp_path / "missing.wav", 16000)


def test_read_waveform_resamples(data_dir):
    path = data_dir / "fsdd" / "recordings" / "0_george_0.wav"
    native = fsdd.read_waveform(path, 8000)
    doubled = fsdd.read_waveform(path, 16000)
    assert abs(len(doubled) - 2 * len(native)) <= 64
    assert native.abs().max() > 0.01


def test_centred_clips_pad_both_ends_and_cap_the_count():
    wave = torch.arange(1, 16, dtype=torch.float32)  # 15 samples
    out = fsdd.centred_clips(wave, clip_samples=10, max_clips=4)
    assert out.shape == (2, 10)
    flat = out.reshape(-1)
    assert flat[:2].eq(0).all() and flat[-3:].eq(0).all()
    assert torch.equal(flat[2:17], wave)
    capped = fsdd.centred_clips(torch.arange(100.0), clip_samples=10, max_clips=3)
    assert torch.equal(capped.reshape(-1), torch.arange(35.0, 65.0))

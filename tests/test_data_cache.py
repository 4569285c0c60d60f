"""The clip cache: one format for pretraining and evaluation, carrying its crop."""

import pytest
import torch
from safetensors.torch import save_file

from avpet.cli import main
from avpet.data.cache import ClipCache, ClipFile, build_cache, read_roi, save_clips
from avpet.data.config import resolve_data_config
from avpet.data.grid import GRID_MOUTH, read_sequence
from avpet.data.transforms import create_transform
from avpet.errors import ConfigError
from avpet.pretrain.config import DataSection
from avpet.pretrain.data import training_crop
from avpet.registry import get_pretrained_cfg

MODEL = "avpet_small_mid_lowrank"


def test_decoded_sequences_are_cached_per_data_config(grid_clips, tmp_path):
    cfg = get_pretrained_cfg(MODEL)
    transform = create_transform(resolve_data_config(cfg, backend="pyav"))
    cache = ClipCache(tmp_path, transform.cfg)
    cropped = create_transform(resolve_data_config(cfg, backend="pyav", roi=GRID_MOUTH))
    assert ClipCache(tmp_path, cropped.cfg).folder != cache.folder
    clip = grid_clips[0]
    decoded = cache.get(clip.id, lambda: read_sequence(clip, transform))
    entry = cache.folder / f"{clip.id}.safetensors"
    assert entry.is_file() and read_roi(entry) is None
    assert decoded["visual"].shape == (4, *cfg.input.visual_shape[1:])

    def no_decoding():
        raise AssertionError("decoded again")

    cached = cache.get(clip.id, no_decoding)
    for modality in ("visual", "audio"):
        assert cached[modality].equal(decoded[modality])

    # a truncated cache file is decoded again and replaced, not an error
    entry.write_bytes(entry.read_bytes()[:100])
    again = cache.get(clip.id, lambda: decoded)
    assert again["visual"].equal(decoded["visual"])
    assert cache.get(clip.id, no_decoding)["audio"].equal(decoded["audio"])


@pytest.mark.slow
def test_avpet_cache_writes_a_dataset_that_knows_its_crop(data_dir, tmp_path, capsys):
    out = tmp_path / "c.safetensors"
    videos = str(data_dir / "grid_s1" / "video")
    crop = [str(x) for x in GRID_MOUTH]
    argv = ["cache", videos, "--model", MODEL, "--out", str(out), "--limit", "2", "--roi", *crop]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    spec = get_pretrained_cfg(MODEL).input
    clips = ClipFile(out, spec)
    assert len(clips) == 2 and clips.roi == GRID_MOUTH
    assert clips[1]["visual"].shape == spec.visual_shape
    assert clips[1]["audio"].shape == spec.audio_shape
    uncropped = ClipFile(build_cache(videos, MODEL, tmp_path / "u.safetensors", limit=2), spec)
    assert uncropped.roi is None and not uncropped.visual.equal(clips.visual)


def test_avpet_cache_names_a_missing_source(tmp_path, capsys):
    out = tmp_path / "c.safetensors"
    assert main(["cache", str(tmp_path / "absent"), "--model", MODEL, "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("avpet cache: error:") and "absent" in err
    assert not out.exists()


def test_pretraining_reads_the_crop_from_the_cache(tmp_path):
    path = tmp_path / "clips.safetensors"
    save_clips(path, {"visual": torch.zeros(2, 1, 3), "audio": torch.zeros(2, 1, 5)}, GRID_MOUTH)
    assert training_crop(DataSection(train=str(path))) == GRID_MOUTH
    assert training_crop(DataSection(train=str(path), roi=GRID_MOUTH)) == GRID_MOUTH
    with pytest.raises(ConfigError, match=r"clips.safetensors: data.roi=\[1, 2, 3, 4\].*crop"):
        training_crop(DataSection(train=str(path), roi=(1, 2, 3, 4)))
    assert training_crop(DataSection(train=str(tmp_path), roi=(1, 2, 3, 4))) == (1, 2, 3, 4)


def test_bad_cache_files_are_named(tmp_path):
    spec = get_pretrained_cfg(MODEL).input
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="garbage.safetensors: cannot read the clip cache"):
        ClipFile(garbage, spec)
    old = tmp_path / "old.safetensors"  # written before the cache carried its crop
    save_file({"visual": torch.zeros(1), "audio": torch.zeros(1)}, str(old))
    with pytest.raises(ConfigError, match="old.safetensors: the clip cache records no crop"):
        ClipFile(old, spec)
    short = tmp_path / "short.safetensors"
    save_clips(short, {"visual": torch.zeros(2, 1), "audio": torch.zeros(3, 1)}, None)
    with pytest.raises(ConfigError, match="short.safetensors: visual and audio hold different"):
        ClipFile(short, spec)
    wrong = tmp_path / "wrong.safetensors"
    save_clips(wrong, {"visual": torch.zeros(2, 1), "audio": torch.zeros(2, 1)}, None)
    with pytest.raises(ConfigError, match="wrong.safetensors: visual clips are"):
        ClipFile(wrong, spec)

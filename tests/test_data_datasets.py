"""VideoDataset over a folder and a CSV manifest, with DataLoader workers and bad files."""

from __future__ import annotations

import os
import shutil

import pytest
from torch.utils.data import DataLoader

from avpet.data import VideoDataset, resolve_data_config
from avpet.errors import MediaError

CLIPS = ["bbaf2n.mp4", "bbaf3s.mp4", "bbaf4p.mp4"]


@pytest.fixture
def folder(data_dir, tmp_path):
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    for name in CLIPS[:2]:
        shutil.copy(data_dir / "grid_s1" / "video" / name, root / name)
    shutil.copy(data_dir / "grid_s1" / "video" / CLIPS[2], root / "sub" / CLIPS[2])
    (root / "notes.txt").write_text("not listed: no video extension")
    return root


def cfg(**overrides):
    return resolve_data_config("avpet_small_mid_lowrank", num_clips=2, **overrides)


def test_folder_dataset_with_two_workers(folder):
    dataset = VideoDataset(folder, cfg(), is_training=True)
    assert [p.split("/")[-1] for p, _ in dataset.items] == [CLIPS[0], CLIPS[1], CLIPS[2]]
    loader = DataLoader(dataset, batch_size=2, num_workers=2, timeout=120)
    batches = list(loader)
    assert [b["visual"].shape[0] for b in batches] == [2, 1]
    first = batches[0]
    assert first["visual"].shape == (2, 2, 3, 8, 64, 64)
    assert first["audio"].shape == (2, 2, 1, 48, 96)
    assert first["starts"].shape == (2, 2) and first["has_audio"].all()
    assert len({p for b in batches for p in b["path"]}) == 3


def test_manifest_with_explicit_starts(folder, tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path,starts\n{folder / CLIPS[0]},0.5;1.5\nvideos/{CLIPS[1]},\n")
    dataset = VideoDataset(manifest, cfg())
    first, second = dataset[0], dataset[1]
    assert first["starts"].tolist() == pytest.approx([0.48, 1.48])  # snapped to 25 fps frames
    assert second["starts"].tolist() == pytest.approx([0.0, 2.36])  # uniform
    assert second["path"].endswith(CLIPS[1])


def test_bad_files_raise_or_are_skipped(folder, caplog):
    (folder / "broken.mp4").write_bytes(b"garbage" * 100)
    strict = VideoDataset(folder, cfg())
    bad = [p for p, _ in strict.items].index(str(folder / "broken.mp4"))
    with pytest.raises(MediaError, match="broken.mp4: not a readable media file"):
        strict[bad]
    lenient = VideoDataset(folder, cfg(), on_error="skip")
    loader = DataLoader(lenient, batch_size=4, num_workers=2, timeout=120)
    (batch,) = list(loader)
    assert batch["visual"].shape[0] == 4 and not any(
        p.endswith("broken.mp4") for p in batch["path"]
    )
    with caplog.at_level("WARNING"):
        lenient[bad]
    assert "broken.mp4" in caplog.text


def test_missing_source_and_bad_manifest(tmp_path):
    with pytest.raises(MediaError, match="nowhere: no such folder or manifest"):
        VideoDataset(tmp_path / "nowhere", cfg())
    manifest = tmp_path / "m.csv"
    manifest.write_text("file\nx.mp4\n")
    with pytest.raises(MediaError, match="m.csv: a CSV manifest needs .* 'path' column"):
        VideoDataset(manifest, cfg())
    manifest.write_text("path,starts\nx.mp4,zero\n")
    with pytest.raises(MediaError, match="m.csv: line 2: bad starts"):
        VideoDataset(manifest, cfg())


@pytest.mark.parametrize(
    "text, reason",
    [
        ("path,starts\nx.mp4,nan\n", "line 2: starts must be finite seconds, got 'nan'"),
        ("path,starts\nx.mp4,1;inf\n", "line 2: starts must be finite seconds, got '1;inf'"),
        ("starts,path\n0.5\n", "line 2: no path \\(the row is shorter than the header\\)"),
        ("path,starts\n,0.5\n", "line 2: no path"),
        (b"path\n\xff\xfe.mp4\n", "unreadable CSV manifest"),
    ],
)
def test_malformed_manifest_rows(tmp_path, text, reason):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(MediaError, match=f"m.csv: {reason}"):
        VideoDataset(manifest, cfg())


def test_manifest_with_a_byte_order_mark_and_non_utf8_file_names(folder, tmp_path):
    """Excel writes UTF-8 CSVs with a BOM; Linux file names may hold any bytes."""
    odd = folder / os.fsdecode(b"clip\xff.mp4")
    shutil.copy(folder / CLIPS[0], odd)
    listed = VideoDataset(folder, cfg())
    assert str(odd) in [p for p, _ in listed.items]
    assert listed[[p for p, _ in listed.items].index(str(odd))]["visual"].shape[0] == 2
    manifest = tmp_path / "bom.csv"
    manifest.write_bytes(b"\xef\xbb\xbfpath,starts\n" + f"{folder / CLIPS[0]},0.5\n".encode())
    assert VideoDataset(manifest, cfg()).items == [(str(folder / CLIPS[0]), [0.5])]

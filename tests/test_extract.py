"""``avpet extract`` and ``avpet.extract_features`` end to end on real files with the small
model: folders mirrored, one file per video, the index, resuming, coverage, crops, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT

import avpet
from avpet.cli import main
from avpet.data import create_transform, load_sample, resolve_data_config
from avpet.features.store import COLUMNS

MODEL = "avpet_small_mid_lowrank"
GRID_S1 = REPO_ROOT / "hub" / f"{MODEL}.grid_s1"
LEVELS = {
    f"{m}_{level}"
    for m in ("visual", "audio")
    for level in ("cnn", "tokens", "unimodal", "multimodal", "bos")
}


@pytest.fixture
def folder(data_dir, tmp_path):
    """``in/grid/{a,b}.mp4`` (GRID clips), ``in/other/silent.mp4`` (no audio), ``in/junk.mp4``."""
    root = tmp_path / "in"
    for name, target in (
        ("grid/a.mp4", data_dir / "grid_s1" / "video" / "bbaf2n.mp4"),
        ("grid/b.mp4", data_dir / "grid_s1" / "video" / "bbal6n.mp4"),
        ("other/silent.mp4", data_dir / "media" / "h264_no_audio.mp4"),
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(target)
    (root / "junk.mp4").write_text("no video here")
    return root


def extract(*args) -> int:
    return main(["extract", "--model", MODEL, "--seed", "3", "--roi", "none", *map(str, args)])


def test_folder_gives_one_file_per_video_and_an_index(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert extract(folder, "--out", out, "--on-error", "skip") == 0
    index = pd.read_csv(out / "index.csv")
    assert list(index.columns) == list(COLUMNS)
    rows = index.set_index("output", drop=False)
    assert set(index.status) == {"done", "error"}
    junk = index[index.status == "error"].iloc[0]
    assert junk.path == str(folder / "junk.mp4") and "not a readable media file" in junk.error
    assert sorted(index.output.dropna()) == [
        "grid/a.mp4.safetensors",
        "grid/b.mp4.safetensors",
        "other/silent.mp4.safetensors",
    ]
    assert rows.loc["grid/a.mp4.safetensors", "clips"] == 5  # 3 s in clips of 0.64 s

    a = avpet.read_features(out / "grid" / "a.mp4.safetensors")
    silent = avpet.read_features(out / "other" / "silent.mp4.safetensors")
    assert set(a.features) == set(silent.features) == LEVELS
    assert a.has_audio and silent.has_visual and not silent.has_audio
    assert not silent.features["audio_cnn"].any() and silent.features["visual_cnn"].any()
    for level in LEVELS:  # same widths whatever the file
        assert a.features[level].shape[1:] == silent.features[level].shape[1:]
    assert a.start[0] == 0 and a.end[-1] >= a.duration == 3.0
    assert a.features["visual_bos"].shape == (2, 256) and a.window.tolist() == [0, 0, 0, 0, 1]
    assert a.metadata["model"] == MODEL and a.metadata["avpet_version"] == avpet.__version__

    # The stored features are the model's own on the same clips (same seed, first window).
    torch.manual_seed(3)
    model = avpet.create_model(MODEL).eval()
    cfg = resolve_data_config(model, roi=None)
    sample = load_sample(folder / "grid" / "a.mp4", create_transform(cfg), a.start[:4].tolist())
    with torch.inference_mode():
        direct = model.forward_features(visual=sample["visual"][None], audio=sample["audio"][None])
    for level, value in direct.items():
        stored = a.features[level][:4] if value.dim() == 3 else a.features[level][0]
        torch.testing.assert_close(stored, value[0], atol=1e-4, rtol=1e-4)

    # A rerun skips what is done, retries the error; a removed output is redone.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}
    (out / "grid" / "b.mp4.safetensors").unlink()
    capsys.readouterr()
    assert extract(folder, "--out", out, "--on-error", "skip") == 0
    assert "1 video(s) done, 2 already done, 1 failed" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}
    assert after[out / "grid" / "a.mp4.safetensors"] == before[out / "grid" / "a.mp4.safetensors"]
    assert (out / "grid" / "b.mp4.safetensors").is_file()
    assert not list(out.rglob("*.tmp"))
    assert extract(folder, "--out", out, "--on-error", "skip", "--overwrite") == 0
    assert after[out / "grid" / "a.mp4.safetensors"] < (
        (out / "grid" / "a.mp4.safetensors").stat().st_mtime_ns
    )


def test_bad_input_stops_with_one_line_naming_it(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert extract(folder / "junk.mp4", folder / "grid" / "a.mp4", "--out", out) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "avpet extract: error:" in err and "junk.mp4" in err
    index = pd.read_csv(out / "index.csv")
    assert index[index.path.str.endswith("junk.mp4")].status.tolist() == ["error"]


def test_killed_run_resumes_without_loss(data_dir, tmp_path):
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:12]
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "avpet", "extract", *map(str, videos), "--model", MODEL]
    argv += ["--roi", "none", "--out", str(out), "--workers", "1", "--batch-size", "4"]
    run = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "index.csv").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)  # the first finished video is listed at once
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    listed = set(pd.read_csv(out / "index.csv").output)
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}
    assert listed and len(written) < len(videos)
    for path in written:  # every file there is whole
        avpet.read_features(path)
    assert (
        main(["extract", *map(str, videos), "--model", MODEL, "--roi", "none", "--out", str(out)])
        == 0
    )
    index = pd.read_csv(out / "index.csv")
    assert (index.status == "done").sum() == len(videos)
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}
    assert len(finished) == len(videos)
    for path in written:  # what the index listed before the kill is not redone
        if str(path.relative_to(out)) in listed:
            assert finished[path] == written[path], path


def test_coverage_options_and_crops(data_dir, tmp_path, capsys):
    clip = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    other = data_dir / "media" / "mpeg4_mp3.avi"  # 320x240
    out = tmp_path / "out"
    tagged = ["--model", f"{MODEL}.grid_s1", f"--pretrained=local-dir:{GRID_S1}"]
    args = ["--num-clips", "3", "--start", "0.5", "--end", "2.5", "--out", out]
    assert main(["extract", str(clip), *tagged, *map(str, args)]) == 0
    record = avpet.read_features(out / "bbaf2n.mp4.safetensors")
    assert record.num_clips == 3 and record.start[0] >= 0.45 and record.end[-1] <= 2.5 + 1e-6
    assert record.metadata["roi"] == "[150, 246, 118, 214]"
    capsys.readouterr()
    assert main(["extract", str(other), *tagged, "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "refers to 360x288 frames, not 320x240" in err and "--roi none" in err
    box = ["--roi", "10", "200", "20", "300", "--out", str(tmp_path / "box")]
    assert main(["extract", str(other), *tagged, *box]) == 0
    bad = ["--roi", "1", "2", "--out", str(tmp_path / "bad")]
    assert main(["extract", str(other), "--model", MODEL, *bad]) == 3
    assert "--roi 1 2: give 4 numbers (TOP BOTTOM LEFT RIGHT), not 2" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["vatt_small", "mmv_small_tsm_fac"])
def test_every_family_through_the_python_api(name, data_dir):
    """The peers encode clips alone: one window per clip, every level they declare."""
    clip = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    silent = data_dir / "media" / "h264_no_audio.mp4"
    model = avpet.create_model(name)
    records = {r.path: r for r in avpet.extract_features([clip, silent], model, batch_size=8)}
    expected = {
        f"{m}_{level.name}": level.dims[m]
        for level in model.feature_levels()
        for m in ("visual", "audio")
        if m in level.modalities
    }
    for record in records.values():
        assert {k: v.shape[1] for k, v in record.features.items()} == expected
        assert all(len(v) == record.num_clips for v in record.features.values())
    assert records[str(silent)].num_clips == 16 and not records[str(silent)].has_audio


def test_api_skips_or_raises_bad_files(data_dir, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 100)
    clip = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    found = list(avpet.extract_features([junk, clip], MODEL, roi=None, on_error="skip"))
    assert [r.path for r in found] == [str(clip)]
    with pytest.raises(avpet.MediaError, match="junk.mp4"):
        list(avpet.extract_features([junk, clip], MODEL, roi=None))


def test_bf16_autocast_stays_close_to_fp32(data_dir):
    clip = data_dir / "grid_s1" / "video" / "bbaf2n.mp4"
    model = avpet.create_model(MODEL)
    half = next(avpet.extract_features(clip, model, roi=None, precision="bf16"))
    full = next(avpet.extract_features(clip, model, roi=None))
    for level, value in full.features.items():
        cosine = torch.nn.functional.cosine_similarity(
            half.features[level].flatten(), value.flatten(), dim=0
        )
        assert cosine > 0.999, level


def _extract_process(videos, out, *extra) -> subprocess.Popen:
    argv = [sys.executable, "-m", "avpet", "extract", *map(str, videos), "--model", MODEL]
    argv += ["--roi", "none", "--out", str(out), "--workers", "1", "--batch-size", "4", *extra]
    argv += ["--seed", "0"]  # random weights meant: no warning
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_runs_into_one_folder_at_once_keep_every_row_and_work_once(data_dir, tmp_path):
    """Two runs on overlapping inputs, started together: they take turns (the second says it
    waits), the index lists every video, and the videos both name are extracted once."""
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:6]
    out = tmp_path / "out"
    first, second = _extract_process(videos[:4], out), _extract_process(videos[2:], out)
    results = [run.communicate(timeout=600) for run in (first, second)]
    assert first.returncode == second.returncode == 0, results
    index = pd.read_csv(out / "index.csv")
    assert sorted(index.path) == sorted(map(str, videos))
    assert (index.status == "done").all()
    assert sum("waiting for it to finish" in err for _, err in results) == 1
    summaries = " ".join(stdout for stdout, _ in results)
    assert "2 already done" in summaries  # the shared two were done by whichever ran first


def test_ctrl_c_ends_with_one_line_and_exit_130(data_dir, tmp_path):
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:12]
    out = tmp_path / "out"
    run = _extract_process(videos, out)
    deadline = time.monotonic() + 300
    while not (out / "index.csv").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130
    lines = [line for line in err.splitlines() if line.strip() and "avpet extract:" in line]
    assert lines == ["avpet extract: interrupted; finished outputs are kept, a rerun goes on"]
    assert "Traceback" not in err
    assert not list(out.rglob("*.tmp"))
    for path in out.rglob("*.safetensors"):  # complete or absent
        avpet.read_features(path)

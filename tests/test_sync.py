"""avpet sync: the objective and the score arithmetic on constructed embeddings, then the
published sync model on real GRID clips whose audio was moved by a known number of frames."""

from __future__ import annotations

import json
import subprocess
import sys

import av
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT, concatenate

from avpet.data.patterns import write_pattern
from avpet.errors import ConfigError, MediaError
from avpet.sync import SyncScorer
from avpet.sync.fix import ffmpeg_command, write_aligned
from avpet.sync.objective import shifted_nce
from avpet.sync.reader import SyncEmbeddings
from avpet.sync.scores import clip_scores, estimate

SYNC_WEIGHTS = f"local-dir:{REPO_ROOT / 'hub' / 'avpet_small_mid_lowrank.sync_grid_s1'}"


def _embeddings(count: int, search: int, offset: int, seed: int = 0) -> SyncEmbeddings:
    """Random audio windows; visual clip t equals the window ``offset`` frames after it."""
    g = torch.Generator().manual_seed(seed)
    audio = F.normalize(torch.randn(count + 2 * search, 16, generator=g), dim=-1)
    visual = audio[search + offset : search + offset + count]
    return SyncEmbeddings("x.mp4", 25.0, 0.0, search, visual, audio)


@pytest.mark.parametrize("offset", [-15, -4, 0, 1, 15])
def test_estimate_finds_the_offset_the_embeddings_hold(offset):
    scores = clip_scores(_embeddings(40, 15, offset))
    assert scores.shape == (40, 31)
    found = estimate(scores)
    assert found.offset == offset
    assert found.confidence > 0.5  # identical vectors against random ones
    assert (found.sync_score == pytest.approx(1.0)) == (offset == 0)


def test_shifted_nce_prefers_aligned_audio():
    b, length, search = 3, 6, 4
    audio = F.normalize(torch.randn(b, length + 2 * search, 16), dim=-1)
    matched = audio[:, search : search + length]
    shuffled = matched[:, torch.randperm(length)]
    good = shifted_nce(matched, audio, search, ignore=1, temperature=0.1)
    assert good < shifted_nce(shuffled, audio, search, ignore=1, temperature=0.1)


def test_shifted_nce_leaves_out_the_windows_next_to_the_positive():
    search = 3
    audio = F.normalize(torch.randn(1, 1 + 2 * search, 16), dim=-1)  # one span of one clip
    visual = audio[:, search : search + 1]
    twin = audio.clone()
    twin[:, search + 1] = audio[:, search]  # the next window copies the positive
    loss = shifted_nce(visual, audio, search, ignore=1, temperature=0.1)
    assert shifted_nce(visual, twin, search, 1, 0.1) == pytest.approx(float(loss), abs=1e-6)
    assert shifted_nce(visual, twin, search, 0, 0.1) > shifted_nce(visual, audio, search, 0, 0.1)


# ---- the published model on real clips ------------------------------------------------------


@pytest.fixture(scope="module")
def scorer():
    return SyncScorer(pretrained=SYNC_WEIGHTS)


@pytest.fixture(scope="module")
def moved(tmp_path_factory, grid_clips):
    """A GRID test clip (unseen by the sync model's training) and copies of it whose sound comes
    5 frames late and 3 frames early, written by the re-aligning copier itself."""
    from avpet.data.grid import split_clips

    _, test = split_clips(grid_clips, 0.8)
    source = str(test[0].video)
    folder = tmp_path_factory.mktemp("moved")
    late, early = folder / "late5.mp4", folder / "early3.mp4"
    write_aligned(source, late, -5 / 25)
    write_aligned(source, early, 3 / 25)
    return source, late, early


def test_the_published_model_finds_moved_audio(scorer, moved):
    source, late, early = moved
    assert abs(scorer(source).offset_frames) <= 1
    found = scorer(late)
    assert abs(found.offset_frames - 5) <= 1
    assert found.offset_seconds == pytest.approx(found.offset_frames / 25)
    assert found.confidence > 0 and found.sync_score < scorer(source).sync_score
    assert abs(scorer(early).offset_frames + 3) <= 1
    assert found.offsets == tuple(range(-15, 16)) and len(found.scores) == 31
    assert found.windows[0].start == 0 and found.windows[-1].end == pytest.approx(3.0, abs=0.05)


def test_windows_follow_a_sound_that_drifts(grid_clips, tmp_path):
    """Three unseen sentences in one 9-s video, the sound 0, 4 and 8 frames late in turn: the
    whole file has one offset, its 3-s windows say how it drifts."""
    from avpet.data.grid import split_clips

    _, test = split_clips(grid_clips, 0.8)
    drifting = tmp_path / "drift.mp4"
    concatenate([c.video for c in test[1:4]], drifting, delays=[0, 4, 8])
    found = SyncScorer(pretrained=SYNC_WEIGHTS, window=3.0)(drifting)
    offsets = [w.offset_frames for w in found.windows]
    assert len(offsets) == 3 and all(
        abs(o - k) <= 1 for o, k in zip(offsets, (0, 4, 8), strict=True)
    )
    assert [round(w.start) for w in found.windows] == [0, 3, 6]


def test_fix_writes_a_copy_that_is_back_in_sync(scorer, moved, tmp_path):
    _, late, _ = moved
    found = scorer(late)
    fixed = write_aligned(str(late), tmp_path / "fixed.mp4", found.offset_seconds)
    assert abs(scorer(fixed).offset_frames) <= 1
    with pytest.raises(Exception, match="exists"):  # never over an existing file
        write_aligned(str(late), fixed, found.offset_seconds)
    with pytest.raises(Exception, match="input"):  # never over its source
        write_aligned(str(late), late, 0.0, overwrite=True)
    with pytest.raises(ConfigError, match="--fix"):
        write_aligned(str(late), tmp_path / "fixed.avi", 0.0)
    assert "-itsoffset -0.200" in ffmpeg_command(str(late), "out.mp4", 0.2)


def test_a_model_without_a_joint_space_is_refused_at_once():
    with pytest.raises(ConfigError, match="no joint audio-visual space"):
        SyncScorer("vatt_audio_base_audioset", pretrained=False)


def test_bad_files_get_one_error_each(scorer, data_dir, tmp_path):
    wav = next((data_dir / "fsdd" / "recordings").glob("*.wav"))
    silent = data_dir / "media" / "h264_no_audio.mp4"
    short = tmp_path / "short.mp4"
    _write_video(short, frames=3)
    for path, reason in ((wav, "no video"), (silent, "no audio"), (short, "shorter than one clip")):
        with pytest.raises(MediaError, match=reason) as error:
            scorer(path)
        assert str(path.name) in str(error.value)


def _write_video(path, frames: int) -> None:
    """A tiny 25-fps H.264 + AAC file of ``frames`` frames (PyAV)."""
    import numpy as np

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        for i in range(frames):
            image = np.full((48, 64, 3), 40 * i % 255, dtype=np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        tone = np.sin(np.arange(16000 * frames // 25) / 5.0).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        frame.sample_rate = 16000
        out.mux(audio.encode(frame))
        out.mux(video.encode())
        out.mux(audio.encode())


def test_cli_json_csv_plot_and_errors(moved, data_dir, tmp_path):
    source, late, early = moved
    silent = data_dir / "media" / "h264_no_audio.mp4"
    csv_path, png = tmp_path / "sync.csv", tmp_path / "curves.png"
    command = [
        sys.executable,
        "-m",
        "avpet.cli",
        "sync",
        source,
        str(late),
        str(early),
        str(silent),
    ]
    command += [
        f"--pretrained={SYNC_WEIGHTS}",
        "--json",
        "--csv",
        str(csv_path),
        "--plot",
        str(png),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 3, done.stderr  # one file failed, the others were scored
    assert done.stderr.count("error") == 1 and "h264_no_audio.mp4: no audio" in done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.strip().splitlines()
    objects = [json.loads(line) for line in lines[:-1]]
    found = [o["offset_frames"] for o in objects]
    assert len(found) == 3 and all(abs(o - k) <= 1 for o, k in zip(found, (0, 5, -3), strict=True))
    listed = json.loads(lines[-1])
    assert listed[:3] == objects and listed[3]["error"].startswith("no audio")
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("path,status,offset_frames") and ",error," in rows[1]
    confidences = [float(r.split(",")[4]) for r in rows[2:]]
    assert len(confidences) == 3 and confidences == sorted(confidences)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 3 and "exists" in again.stderr  # nothing overwritten
    fix = [sys.executable, "-m", "avpet.cli", "sync", source, str(late), "--fix", "x.mp4"]
    refused = subprocess.run(fix, capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 3 and "one video" in refused.stderr


def test_eval_sync_model_against_the_training_free_baseline(data_dir):
    common = ["--data", str(data_dir / "grid_s1"), "--limit", "4", "--json"]
    results = {}
    for name, args in (
        (
            "model",
            ["--model", "avpet_small_mid_lowrank.sync_grid_s1", f"--pretrained={SYNC_WEIGHTS}"],
        ),
        ("baseline", ["--baseline"]),
    ):
        command = [sys.executable, "-m", "avpet.cli", "eval", "sync", *args, *common]
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    model, baseline = results["model"], results["baseline"]
    for metrics in (model, baseline):
        assert metrics["n_clips"] == 4
        for key in ("offset_acc_whole", "offset_acc_15", "offset_acc_5", "auroc_swapped"):
            assert 0 <= metrics[key] <= 1
    assert model["offset_acc_whole"] >= 0.9 > baseline["offset_acc_whole"]
    assert model["auroc_shift3"] > baseline["auroc_shift3"]
    assert 0 < model["seconds_per_clip"] < 30


def test_fix_writes_only_a_reliable_estimate(moved, tmp_path):
    """A video without a face: its estimate is marked unreliable in text and JSON, --fix
    refuses naming the confidence, --force writes it; a reliable one is written; a format
    --fix cannot write is refused before the file is scored."""
    pattern = write_pattern(  # no face: GRID's frame size, so the default crop applies
        tmp_path / "pattern.mp4", 4, sound="sine=frequency=440:beep_factor=4", size=(360, 288)
    )
    base = [sys.executable, "-m", "avpet.cli", "sync", f"--pretrained={SYNC_WEIGHTS}"]
    out = tmp_path / "fixed.mp4"
    refused = subprocess.run(
        [*base, str(pattern), "--fix", str(out)], capture_output=True, text=True
    )
    assert refused.returncode == 3 and not out.exists()
    assert "UNRELIABLE" in refused.stdout
    assert "unreliable (confidence" in refused.stderr and "--force" in refused.stderr
    forced = [*base, str(pattern), "--fix", str(out), "--force", "--json"]
    done = subprocess.run(forced, capture_output=True, text=True)
    assert done.returncode == 0 and out.is_file(), done.stderr
    result = json.loads(done.stdout.splitlines()[0])
    assert result["reliable"] is False and result["doubt"]
    assert "forced" in done.stdout
    _, late, _ = moved
    good = subprocess.run([*base, str(late), "--fix", str(tmp_path / "good.mp4")],
                          capture_output=True, text=True)  # fmt: skip
    assert good.returncode == 0 and "UNRELIABLE" not in good.stdout, good.stderr
    avi = subprocess.run([*base, str(late), "--fix", str(tmp_path / "x.avi")],
                         capture_output=True, text=True)  # fmt: skip
    assert avi.returncode == 3 and "--fix" in avi.stderr and "offset" not in avi.stdout

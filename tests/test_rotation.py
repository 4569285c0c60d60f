"""Videos with a display rotation (what phones write) are read as displayed, by every reader:
copies of a GRID clip stored turned by 90, 180 and 270 degrees with a display matrix that turns
them back give the clip's own frames, sync offset, features and crop."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from avpet.data import create_transform, load_sample, open_media, probe, resolve_data_config
from avpet.features import extract_features
from avpet.sync import SyncScorer
from avpet.sync.fix import write_aligned

GRID_CLIP = "grid_s1/video/bbaf2n.mp4"
SYNC_WEIGHTS = f"local-dir:{REPO_ROOT / 'hub' / 'avpet_small_mid_lowrank.sync_grid_s1'}"
ROTATIONS = (90, 180, 270)

pytestmark = pytest.mark.skipif(
    not hasattr(av.video.stream.VideoStream, "set_display_rotation"),
    reason="this PyAV cannot write a display matrix (PyAV >= 15 can)",
)


def rotated_copy(source: Path, out: Path, degrees: int) -> Path:
    """``source`` with every frame stored turned ``-degrees`` (clockwise) and a display matrix
    of ``degrees`` counter-clockwise, so a player shows the original; audio packets copied."""
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        video_in, audio_in = src.streams.video[0], src.streams.audio[0]
        video = dst.add_stream("libx264", rate=video_in.average_rate)
        height, width = video_in.codec_context.height, video_in.codec_context.width
        if degrees % 180:
            height, width = width, height
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "8", "preset": "ultrafast"}
        video.set_display_rotation(degrees)
        audio = dst.add_stream_from_template(audio_in)
        for packet in src.demux(video_in, audio_in):
            if packet.stream is audio_in:
                if packet.dts is not None:
                    packet.stream = audio
                    dst.mux(packet)
                continue
            for frame in packet.decode():
                stored = np.rot90(frame.to_ndarray(format="rgb24"), -degrees // 90)
                image = av.VideoFrame.from_ndarray(np.ascontiguousarray(stored), format="rgb24")
                dst.mux(video.encode(image.reformat(format="yuv420p")))
        dst.mux(video.encode())
    return out


@pytest.fixture(scope="module")
def rotated(data_dir, tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("rotated")
    source = data_dir / GRID_CLIP
    return {d: rotated_copy(source, folder / f"rot{d}.mp4", d) for d in ROTATIONS}


@pytest.mark.parametrize("degrees", ROTATIONS)
@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_both_readers_give_the_displayed_frames(data_dir, rotated, degrees, backend):
    info = probe(rotated[degrees])
    assert (info.rotation, info.height, info.width) == (degrees, 288, 360)
    with open_media(data_dir / GRID_CLIP, "pyav") as reader:
        original = reader.frames([0, 30, 60]).float()
    with open_media(rotated[degrees], backend) as reader:
        assert reader.backend == backend
        shown = reader.frames([0, 30, 60]).float()
    assert shown.shape == original.shape == (3, 288, 360, 3)
    assert (shown - original).abs().mean() < 4  # re-encoded, so not bit-exact
    assert (torch.flip(shown, (1, 2)) - original).abs().mean() > 8  # and not upside down


def test_the_pretraining_loader_and_the_crop_see_the_displayed_frame(data_dir, rotated):
    """The published weights' crop applies to 288x360 frames only: a rotated copy's displayed
    frame is that size, so the crop (a window on the mouth) applies as on the original."""
    transform = create_transform(resolve_data_config("avpet_small_mid_lowrank.grid_s1"))
    starts = [0.5, 1.5]
    original = load_sample(data_dir / GRID_CLIP, transform, starts)["visual"]
    for degrees in ROTATIONS:
        turned = load_sample(rotated[degrees], transform, starts)["visual"]
        assert (turned - original).abs().mean() < 0.1, degrees


def test_sync_and_extract_on_a_phone_style_file_match_the_original(data_dir, rotated, tmp_path):
    late = write_aligned(str(rotated[90]), tmp_path / "late.mp4", -5 / 25)
    scorer = SyncScorer(pretrained=SYNC_WEIGHTS)
    assert abs(scorer(late).offset_frames - 5) <= 1
    weights = f"local-dir:{REPO_ROOT / 'hub' / 'avpet_small_mid_lowrank.grid_s1'}"
    original, turned = extract_features(
        [data_dir / GRID_CLIP, rotated[270]], "avpet_small_mid_lowrank", pretrained=weights
    )
    a, b = original.features["visual_unimodal"], turned.features["visual_unimodal"]
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min() > 0.95

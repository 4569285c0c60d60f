"""``roi="face"`` and the frame size a fixed crop refers to."""

from __future__ import annotations

import sys

import pytest
import torch

import avpet
from avpet.data import create_transform, resolve_data_config
from avpet.data.face import FaceTracker, require_opencv
from avpet.data.io import open_media
from avpet.errors import ConfigError, MediaError
from avpet.models.avbert import GRID_MOUTH

pytest.importorskip("cv2", reason="the face crop needs avpet[face]")


def overlap(a, b) -> float:
    """Intersection over union of two (top, bottom, left, right) boxes."""
    rows = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    cols = max(0, min(a[3], b[3]) - max(a[2], b[2]))
    inter = rows * cols
    return inter / ((a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter)


def test_lower_face_lands_on_the_grid_mouth_when_moved(data_dir):
    with open_media(data_dir / "grid_s1" / "video" / "bbaf2n.mp4", backend="pyav") as reader:
        frames = reader.frames(list(range(30, 38)))  # [8, 288, 360, 3]
    tracker = FaceTracker("bbaf2n.mp4")
    crop = tracker.crop(frames)
    assert crop.shape[1] == crop.shape[2] and overlap(tracker.box, GRID_MOUTH) > 0.6
    canvas = torch.full((8, 480, 640, 3), 128, dtype=torch.uint8)  # the same face moved
    canvas[:, 150:438, 200:560] = frames
    moved = FaceTracker("moved.mp4")
    moved.crop(canvas)
    shifted = (GRID_MOUTH[0] + 150, GRID_MOUTH[1] + 150, GRID_MOUTH[2] + 200, GRID_MOUTH[3] + 200)
    assert overlap(moved.box, shifted) > 0.6
    blank = FaceTracker("blank.mp4")  # no face yet: the centre square, counted
    assert blank.crop(torch.zeros(8, 240, 320, 3, dtype=torch.uint8)).shape == (8, 240, 240, 3)
    assert blank.missed == 1 and blank.box is None
    moved.crop(torch.zeros(8, 480, 640, 3, dtype=torch.uint8))  # keeps the last box
    assert overlap(moved.box, shifted) > 0.6


def test_face_transform_gives_model_input(data_dir):
    transform = create_transform(resolve_data_config("avpet_small_mid_lowrank", roi="face"))
    with open_media(data_dir / "grid_s1" / "video" / "bbaf2n.mp4", backend="pyav") as reader:
        frames = reader.frames(list(range(8)))
    geometry = transform.geometry("bbaf2n.mp4", 288, 360)
    assert transform.visual(frames, geometry).shape == (3, 8, 64, 64)


def test_missing_opencv_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ConfigError, match=r"pip install \"avpet\[face\]\""):
        require_opencv()


def test_fixed_crop_only_on_frames_of_its_size():
    spec = avpet.get_pretrained_cfg("avpet_small_mid_lowrank.grid_s1").input
    assert spec.roi == GRID_MOUTH and spec.roi_frame == (288, 360)
    transform = create_transform(resolve_data_config(spec))
    transform.geometry("grid.mp4", 288, 360)
    with pytest.raises(MediaError, match="--roi none"):
        transform.geometry("big.mp4", 360, 640)  # holds the box, but is another frame
    chosen = create_transform(resolve_data_config(spec, roi=(0, 100, 0, 100)))
    assert chosen.cfg.roi_frame is None
    chosen.geometry("big.mp4", 360, 640)
    with pytest.raises(ConfigError, match="roi_frame"):
        avpet.InputSpec(roi=(0, 300, 0, 10), roi_frame=(288, 360))

"""``roi="face"``: the lower face, found by OpenCV's Haar face detector, as the crop of each clip.

The detector is the frontal-face Haar cascade that ``opencv-python-headless`` 4.x ships under
``cv2.data.haarcascades`` (no download at run time; the optional extra ``avpet[face]``). The crop
is a square derived from the face box by :data:`LOWER_FACE` (calibrated on GRID by
``tools/calibrate_face_roi.py`` so that on GRID frames it lands on the fixed mouth crop
``(150, 246, 118, 214)``), one per clip: the median of the boxes found on a few of its frames.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError

INSTALL = 'pip install "avpet[face]"'

# Lower-face square from a face box (x, y, w, h): centre (x + cx·w, y + cy·h), side size·w.
# Printed by tools/calibrate_face_roi.py on the 883 GRID s1 clips.
LOWER_FACE = {"cx": 0.564, "cy": 0.720, "size": 0.688}

# Frames of a clip the detector looks at (first, middle, last): the box is their median.
_PROBES = 3
_DETECT_WIDTH = 320  # frames are scaled down to this width for detection


def require_opencv():
    """The ``cv2`` module with its Haar cascades, or a ConfigError saying how to install it."""
    try:
        import cv2
    except ImportError as error:
        raise ConfigError(f"--roi face needs OpenCV: {INSTALL}") from error
    cascades = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not cascades or cv2.CascadeClassifier(cascades + CASCADE).empty():
        raise ConfigError(
            f"--roi face needs OpenCV's Haar cascades (opencv-python-headless 4.x ships them, "
            f"5.x does not): {INSTALL}"
        )
    return cv2


CASCADE = "haarcascade_frontalface_default.xml"
log = logging.getLogger(__name__)
_local = threading.local()  # one CascadeClassifier per thread (they are not thread-safe)


def detect_faces(frame: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Face boxes ``(x, y, w, h)`` in pixels of one RGB ``[H, W, 3]`` uint8 frame, largest first."""
    cv2 = require_opencv()
    if not hasattr(_local, "cascade"):
        _local.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    scale = min(1.0, _DETECT_WIDTH / frame.shape[1])
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    side = min(gray.shape)
    found = _local.cascade.detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(side // 6, side // 6)
    )
    boxes = [tuple(float(v) / scale for v in box) for box in found]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


@dataclass
class FaceTracker:
    """The lower-face crop of the clips of one video, in order (create one per video).

    A clip where no face is found keeps the previous clip's box; where there is none yet, every
    frame of the clip is searched, and failing that the clip's centre square is used (logged
    once per video as a warning, counted in ``missed``).
    """

    path: str
    box: tuple[int, int, int, int] | None = None
    missed: int = 0  # clips where no face was found

    def crop(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``[F, H, W, 3]`` → the clip's lower-face square ``[F, S, S, 3]``."""
        count = frames.shape[0]
        picks = sorted({round(k * (count - 1) / (_PROBES - 1)) for k in range(_PROBES)})
        faces = [found[0] for k in picks if (found := detect_faces(frames[k].numpy()))]
        if not faces and self.box is None:  # nothing to fall back on: look at every frame
            rest = [k for k in range(count) if k not in picks]
            faces = [found[0] for k in rest if (found := detect_faces(frames[k].numpy()))]
        height, width = frames.shape[1:3]
        if faces:
            self.box = lower_face(np.median(np.asarray(faces), axis=0), height, width)
        elif self.box is None:
            if not self.missed:
                log.warning("%s: no face in its first clip; its centre square is used", self.path)
            self.missed += 1
            side = min(height, width)
            top, left = (height - side) // 2, (width - side) // 2
            return frames[:, top : top + side, left : left + side]
        else:
            self.missed += 1
        top, bottom, left, right = self.box
        return frames[:, top:bottom, left:right]


def lower_face(face: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """The :data:`LOWER_FACE` square ``(top, bottom, left, right)`` of face box ``(x, y, w, h)``,
    shifted (and if need be shrunk) into a ``height x width`` frame."""
    x, y, w, h = (float(v) for v in face)
    side = min(round(LOWER_FACE["size"] * w), height, width)
    top = round(y + LOWER_FACE["cy"] * h - side / 2)
    left = round(x + LOWER_FACE["cx"] * w - side / 2)
    top, left = min(max(top, 0), height - side), min(max(left, 0), width - side)
    return top, top + side, left, left + side

"""Calibrate ``--roi face`` on GRID: where the fixed mouth crop sits relative to the Haar face box.

For the middle frame of every GRID clip, the largest face box ``(x, y, w, h)`` is compared with the
crop the GRID weights were trained on, ``(150, 246, 118, 214)`` of the 288x360 frame; the medians
of ``(crop centre x - x) / w``, ``(crop centre y - y) / h`` and ``crop side / w`` are the
constants ``avpet.data.face.LOWER_FACE``.

Usage: python tools/calibrate_face_roi.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avpet.data.face import LOWER_FACE, detect_faces
from avpet.data.io import open_media
from avpet.models.avbert import GRID_MOUTH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, help="use the first N clips only")
    args = parser.parse_args()
    clips = sorted((args.data / "grid_s1" / "video").glob("*.mp4"))[: args.limit]
    top, bottom, left, right = GRID_MOUTH
    ratios, missed = [], 0
    for clip in clips:
        with open_media(clip, backend="pyav") as reader:
            frame = reader.frames([reader.info.num_frames // 2])[0].numpy()
        faces = detect_faces(frame)
        if not faces:
            missed += 1
            continue
        x, y, w, h = faces[0]
        ratios.append(
            (((left + right) / 2 - x) / w, ((top + bottom) / 2 - y) / h, (right - left) / w)
        )
    cx, cy, size = np.median(np.asarray(ratios), axis=0)
    spread = np.percentile(np.asarray(ratios), [10, 90], axis=0)
    print(f"{len(clips)} GRID clips, a face found in {len(ratios)} ({missed} without)")
    print(f"LOWER_FACE = {{'cx': {cx:.3f}, 'cy': {cy:.3f}, 'size': {size:.3f}}}")
    print(f"10th/90th percentiles: {np.round(spread, 3).tolist()}; in avpet: {LOWER_FACE}")


if __name__ == "__main__":
    main()

"""A file read for sync scoring: one visual clip starting at every source frame, one audio window
at every frame step, each embedded on its own in the model's joint space.

Visual clip ``t`` starts at frame ``t`` and takes the spec's ``frames`` at the spec's ``fps``; audio
window ``j`` starts ``j - search`` frame steps after the first frame (zeros where the track has no
sound), so the audio that would go with clip ``t`` if the sound were ``k`` frames late is window
``t + k + search``. Frames and windows are read front to back in chunks: memory grows only with the
embeddings (``2 x frames x width`` floats), not with the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data import clips
from ..data.io import AudioStream, MediaInfo, probe, reader_for
from ..data.transforms import ClipTransform
from ..errors import MediaError
from ..models.contract import AVModel


@dataclass(frozen=True)
class SyncEmbeddings:
    """``visual`` ``[M, D]``: clip ``t`` from frame ``t``; ``audio`` ``[M + 2 * search, D]``:
    window ``j`` from frame step ``j - search``; both L2-normalised. ``fps``: the video's frame
    rate (one step); ``start``: the first frame's time in seconds."""

    path: str
    fps: float
    start: float
    search: int
    visual: torch.Tensor
    audio: torch.Tensor

    @property
    def num_clips(self) -> int:
        return self.visual.shape[0]


def probe_av(path: str, max_pixels: int | None = None) -> MediaInfo:
    """Probe ``path`` (frames up to ``max_pixels``, see :func:`~avpet.data.io.probe`) and check
    that it has both a picture and a sound (MediaError otherwise)."""
    info = probe(path, max_pixels, audio_only=True)
    if not info.has_video:
        raise MediaError(info.path, "no video stream: sync needs picture and sound")
    if not info.has_audio:
        raise MediaError(info.path, "no audio stream: sync needs picture and sound")
    return info


@torch.no_grad()
def embed_file(
    model: AVModel, transform: ClipTransform, path: str, search: int, chunk: int = 128
) -> SyncEmbeddings:
    """Embed every visual clip and every audio window of ``path`` (see the module docstring);
    a file shorter than one clip is a :class:`MediaError`."""
    cfg, spec = transform.cfg, transform.cfg.input
    info = probe_av(str(path), cfg.max_pixels)
    times = info.frame_times
    last = clips.last_start(info.path, info.duration, spec.clip_seconds)
    count = int(np.searchsorted(times, times[0] + last + 1e-6, side="right"))
    geometry = transform.geometry(info.path, info.height, info.width)
    device = next(model.parameters()).device
    visual = []
    # every frame, in order: PyAV's one forward pass (decord's seeking reader grew by ~1 GB over
    # a 10-minute file here)
    with reader_for(info, "pyav", cfg.num_threads) as reader:
        for begin in range(0, count, chunk):
            index = [
                clips.clip_frames(times, float(s), spec, info.fps)
                for s in times[begin : min(begin + chunk, count)]
            ]
            wanted = sorted({i for clip in index for i in clip})
            pixels = transform.visual(reader.frames(wanted), geometry)  # [3, n, S, S]
            where = {frame: k for k, frame in enumerate(wanted)}
            batch = torch.stack([pixels[:, [where[i] for i in clip]] for clip in index])
            visual.append(model.joint_clips("visual", batch.to(device)).cpu())
    first = float(times[0])
    steps = range(-search, count + search)
    audio = []
    with AudioStream(info, spec.sample_rate) as stream:
        for begin in range(0, len(steps), chunk):
            waves = torch.stack(
                [
                    stream.read(
                        clips.audio_begin(first + j / info.fps, spec.sample_rate),
                        spec.clip_samples,
                    )
                    for j in steps[begin : begin + chunk]
                ]
            )
            audio.append(model.joint_clips("audio", transform.audio(waves).to(device)).cpu())
    return SyncEmbeddings(
        path=info.path,
        fps=info.fps,
        start=first,
        search=search,
        visual=F.normalize(torch.cat(visual).float(), dim=-1),
        audio=F.normalize(torch.cat(audio).float(), dim=-1),
    )

"""A re-aligned copy of a file: its audio moved by the measured offset, nothing re-encoded.

The packets of the video stream and of the audio stream avpet read are copied into a new
container; the audio packets' timestamps move ``offset_seconds`` earlier (what ``ffmpeg
-itsoffset`` does), and audio packets that would fall before the start are dropped. The copy is
written atomically and never over its source or an existing file (``overwrite``).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import av

from ..data.io import open_container
from ..errors import ConfigError, MediaError
from ..outputs import atomic_file
from .reader import probe_av

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def write_aligned(source: str, out: str | Path, offset_seconds: float, overwrite: bool = False):
    """Copy ``source`` to ``out`` with its audio ``offset_seconds`` earlier (a positive offset:
    the sound came after the picture). Returns ``out`` as a :class:`Path`."""
    out = Path(out)
    container = container_of(out)
    info = probe_av(source)
    video_index, audio_index = info.video_stream, info.audio_stream
    with (
        atomic_file(out, overwrite, inputs=[source]) as tmp,
        open_container(info.path) as src,
        av.open(str(tmp), "w", format=container) as dst,
    ):
        video = next(s for s in src.streams if s.index == video_index)
        audio = next(s for s in src.streams if s.index == audio_index)
        copies = {s.index: dst.add_stream_from_template(s) for s in (video, audio)}
        shift = round(offset_seconds / audio.time_base)
        try:
            for packet in src.demux(video, audio):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                if packet.stream.index == audio_index:
                    packet.pts -= shift
                    packet.dts -= shift
                    if packet.pts < 0:
                        continue
                packet.stream = copies[packet.stream.index]
                dst.mux(packet)
        except (av.error.FFmpegError, ValueError) as error:
            raise MediaError(source, f"cannot copy its streams ({error})") from error
    return out


def container_of(out: Path) -> str:
    """The container format ``out``'s suffix names (a :class:`ConfigError` if none avpet
    writes)."""
    container = CONTAINERS.get(out.suffix.lower())
    if container is None:
        raise ConfigError(f"--fix {out}: write one of {', '.join(CONTAINERS)}")
    return container


def ffmpeg_command(source: str, out: str | Path, offset_seconds: float) -> str:
    """The ffmpeg command that writes the same copy (the streams avpet reads)."""
    info = probe_av(source)
    args = ["ffmpeg", "-i", info.path, "-itsoffset", f"{-offset_seconds:.3f}", "-i", info.path]
    args += ["-map", f"0:{info.video_stream}", "-map", f"1:{info.audio_stream}", "-c", "copy"]
    args.append(str(out))
    return shlex.join(args)

"""Generated videos without a face: a libavfilter test pattern with a tone or noise, written by
PyAV (no ffmpeg binary), for benchmarks, experiments and tests that need media of any length."""

from __future__ import annotations

from pathlib import Path

import av


def write_pattern(
    path: str | Path,
    seconds: float,
    pattern: str = "testsrc2",
    sound: str = "sine=frequency=440",
    size: tuple[int, int] = (640, 360),
    crf: int = 28,
) -> Path:
    """``seconds`` of the lavfi video source ``pattern`` at 25 fps, ``size`` (width, height),
    H.264, with the lavfi audio source ``sound`` at 16 kHz mono, AAC, at ``path``."""
    width, height = size
    video_in = av.open(f"{pattern}=rate=25:size={width}x{height}", format="lavfi")
    audio_in = av.open(f"{sound}:sample_rate=16000:duration={seconds}", format="lavfi")
    with video_in, audio_in, av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": str(crf)}
        audio = out.add_stream("aac", rate=16000, layout="mono")
        for count, frame in enumerate(video_in.decode(video=0)):
            if count >= round(25 * seconds):  # not every source has a duration option
                break
            out.mux(video.encode(frame.reformat(format="yuv420p")))
        out.mux(video.encode())
        for frame in audio_in.decode(audio=0):
            frame.pts = None
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return Path(path)

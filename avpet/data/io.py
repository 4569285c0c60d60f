"""Media readers: one file → RGB frames by index and a mono waveform.

Two video decoders sit behind one interface: decord (the design card's decoder, seeks per clip)
and PyAV (decodes forward from the start, always available). Both share one PyAV probe, so stream
choice, the frame index and the timeline are identical; audio is always decoded by PyAV
(swresample downmix + resample). ``open_media(path, backend="auto")`` uses decord for MP4/MOV and
Matroska/WebM files and PyAV for every other container (decord 0.6 seeks to wrong frames in AVI
with packed B-frames, and its older FFmpeg decodes MPEG-1 differently); it also falls back to PyAV
when decord is missing, fails on the file or does not answer within ``timeout`` seconds.

Frames come out as displayed: a file whose video carries a rotation (the display matrix phones
write, or an old ``rotate`` tag) has ``MediaInfo.rotation`` (degrees counter-clockwise, a multiple
of 90), ``width`` and ``height`` of the displayed frame, and both readers turn every frame that
way (decord 0.6 applies the matrix itself; PyAV's frames are turned here), so crops, face
detection and frame-size checks see what a player shows. Flips are not applied.

Paths are only ever opened as local files: FFmpeg reads a name such as ``concat:a.mp4|b.mp4``,
``subfile,,start,0,end,0,,:x``, ``pipe:0`` or ``http://host/x`` as a protocol, so both decoders get
the absolute path (which FFmpeg always treats as a file) and PyAV's protocol whitelist is ``file``,
which also stops a playlist inside a file (HLS, concat) from reaching the network. Frames larger
than ``max_pixels`` are refused at the probe, from the stream header, before avpet decodes any;
FFmpeg's decoders get the same limit, so its own stream probe does not decode such a first frame
either (a codec that learns the frame size only by decoding, MPEG-4 part 2, is probed again
without the limit to tell a too-large stream from a sizeless one).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import av
import numpy as np
import torch

from ..errors import ConfigError, MediaError

Backend = Literal["auto", "decord", "pyav"]
T = TypeVar("T")

# Containers whose frames decord 0.6 returns exactly as PyAV does (tested on the shared media).
DECORD_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, RuntimeError, EOFError)
MAX_PIXELS_ENV = "AVPET_MAX_PIXELS"
MAX_PIXELS = 8192 * 4320  # 8K UHD


def default_max_pixels() -> int:
    """The largest frame (width x height) avpet decodes: ``AVPET_MAX_PIXELS`` if set (to lower the
    limit on a small machine), else 8192 x 4320."""
    text = os.environ.get(MAX_PIXELS_ENV, "")
    if not text:
        return MAX_PIXELS
    if not text.isdigit() or int(text) <= 0:
        raise ConfigError(f"{MAX_PIXELS_ENV} must be a positive number of pixels, got {text!r}")
    return int(text)


def local_path(path: str) -> str:
    """``path`` as an absolute file name: FFmpeg opens it as a local file whatever it looks like
    (a relative ``concat:x``, ``pipe:0`` or ``http:...`` would be opened as that protocol)."""
    return os.path.abspath(path)


@dataclass(frozen=True)
class MediaInfo:
    """What a probe of one file found. Times are seconds on the video timeline (first frame = 0).

    ``frame_times`` holds the presentation time of every frame in display order, so variable
    frame rate files are sampled by timestamp. ``audio_stream`` is None for a file without audio.
    ``width`` / ``height``: the displayed frame, after ``rotation`` (degrees counter-clockwise
    that a stored frame is turned by to be displayed: 0, 90, 180 or 270).
    """

    path: str
    format: str
    width: int
    height: int
    fps: float
    frame_times: np.ndarray = field(repr=False, compare=False)
    video_stream: int | None
    audio_stream: int | None
    audio_rate: int | None
    audio_channels: int | None
    audio_offset: float = 0.0
    audio_duration: float = 0.0
    rotation: int = 0

    @property
    def num_frames(self) -> int:
        return len(self.frame_times)

    @property
    def has_video(self) -> bool:
        return self.video_stream is not None

    @property
    def duration(self) -> float:
        """Video duration: last frame time plus one nominal frame period; for an audio-only file
        (``probe(..., audio_only=True)``), the audio track's duration."""
        if not self.has_video:
            return self.audio_duration
        return float(self.frame_times[-1]) + 1.0 / self.fps

    @property
    def has_audio(self) -> bool:
        return self.audio_stream is not None


_AV_OPTIONS = {"protocol_whitelist": "file"}


def open_container(path: str, max_pixels: int | None = None) -> av.container.InputContainer:
    """``path`` opened by PyAV as a local file; with ``max_pixels``, FFmpeg's own stream probe
    (which decodes a first frame) refuses larger frames instead of allocating them."""
    if not Path(path).is_file():
        raise MediaError(path, "no such file" if not Path(path).exists() else "not a regular file")
    options = _AV_OPTIONS if max_pixels is None else {**_AV_OPTIONS, "max_pixels": str(max_pixels)}
    try:
        return av.open(local_path(path), metadata_errors="ignore", options=options)
    except _AV_ERRORS as error:
        raise MediaError(path, f"not a readable media file ({error})") from error


def probe(path: str | Path, max_pixels: int | None = None, audio_only: bool = False) -> MediaInfo:
    """Open ``path`` with PyAV, pick its streams and index its video frames (demux, no decoding).

    Streams: FFmpeg's best video stream and the best audio stream related to it (what ``ffmpeg``
    and decord pick by default). Raises :class:`MediaError` for a missing, non-media or corrupt
    file, one with no decodable video frame, or frames larger than ``max_pixels`` (width x height;
    default :func:`default_max_pixels`). With ``audio_only``, a file without a video stream but
    with audio is accepted (``has_video`` False, no frames, timeline = the audio track).
    """
    path = str(path)
    max_pixels = default_max_pixels() if max_pixels is None else max_pixels
    container = open_container(path, max_pixels)
    if container.streams.video and not container.streams.best("video").codec_context.width:
        # Some codecs (MPEG-4 part 2) learn the frame size only by decoding, which the limit
        # refused, or the stream has none: look again without the limit to tell which.
        container.close()
        container = open_container(path)
    try:
        if not container.streams.video:
            if audio_only and container.streams.audio:
                return _probe_audio_only(container, path)
            raise MediaError(path, "no video stream")
        video = container.streams.best("video")
        audio = container.streams.best("audio", related=video) if container.streams.audio else None
        width, height = video.codec_context.width, video.codec_context.height
        if not width or not height:
            raise MediaError(path, "video stream has no frame size")
        if width * height > max_pixels:
            raise MediaError(
                path,
                f"{width}x{height} frames exceed max_pixels={max_pixels} "
                f"(raise it with DataConfig.max_pixels or {MAX_PIXELS_ENV})",
            )
        rotation = _rotation(path, video)
        if rotation % 180:
            width, height = height, width
        pts = _video_pts(container, video, path)
        times = (pts - pts[0]) * float(video.time_base)
        rate = video.average_rate or video.guessed_rate
        fps = float(rate) if rate else _fps_from_times(times, path)
        audio_offset = 0.0
        if audio is not None and audio.start_time is not None:
            audio_offset = audio.start_time * float(audio.time_base) - pts[0] * float(
                video.time_base
            )
        return MediaInfo(
            path=path,
            format=container.format.name,
            width=width,
            height=height,
            fps=fps,
            frame_times=times,
            video_stream=video.index,
            audio_stream=None if audio is None else audio.index,
            audio_rate=None if audio is None else audio.codec_context.sample_rate,
            audio_channels=None if audio is None else audio.codec_context.channels,
            audio_offset=audio_offset,
            rotation=rotation,
        )
    finally:
        container.close()


def _rotation(path: str, video: av.VideoStream) -> int:
    """Degrees counter-clockwise (0, 90, 180, 270) the frames of ``video`` are turned by for
    display: the display matrix of its first decoded frame (FFmpeg attaches the stream's), else
    the old ``rotate`` tag (clockwise degrees)."""
    degrees = 0.0
    try:
        with open_container(path) as container:
            stream = container.streams.video[
                [s.index for s in container.streams.video].index(video.index)
            ]
            frame = next(container.decode(stream), None)
    except (*_AV_ERRORS, StopIteration, MediaError):
        frame = None
    if frame is not None and getattr(frame, "rotation", None) is not None:
        degrees = float(frame.rotation)
    elif frame is not None and (matrix := _display_matrix(frame)) is not None:
        degrees = matrix
    elif video.metadata.get("rotate", "").lstrip("-").isdigit():
        degrees = -float(video.metadata["rotate"])
    return int(round(degrees / 90)) % 4 * 90


def _display_matrix(frame: av.VideoFrame) -> float | None:
    """The counter-clockwise rotation in a frame's DISPLAYMATRIX side data (PyAV without
    ``VideoFrame.rotation``): FFmpeg's ``av_display_rotation_get``."""
    for data in getattr(frame, "side_data", ()):
        if "DISPLAYMATRIX" in str(getattr(data, "type", "")):
            m = np.frombuffer(bytes(data), dtype="<i4")[:9].astype(np.float64)
            return float(np.degrees(np.arctan2(m[1], m[0])))
    return None


def displayed(frames: torch.Tensor, rotation: int) -> torch.Tensor:
    """Stored frames ``[N, H, W, 3]`` turned ``rotation`` degrees counter-clockwise, as shown."""
    if not rotation:
        return frames
    return torch.rot90(frames, rotation // 90, dims=(1, 2)).contiguous()


def _probe_audio_only(container: av.container.InputContainer, path: str) -> MediaInfo:
    """A :class:`MediaInfo` for a file with audio and no video: its duration from the audio
    packets (the end of the last one), its start at 0."""
    audio = container.streams.best("audio")
    end = first = None
    try:
        for packet in container.demux(audio):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            end = max(end or 0, packet.pts + (packet.duration or 0))
    except _AV_ERRORS as error:
        raise MediaError(path, f"cannot demux the audio stream ({error})") from error
    if end is None or end <= first:
        raise MediaError(path, "audio stream has no samples")
    return MediaInfo(
        path=path,
        format=container.format.name,
        width=0,
        height=0,
        fps=0.0,
        frame_times=np.zeros(0),
        video_stream=None,
        audio_stream=audio.index,
        audio_rate=audio.codec_context.sample_rate,
        audio_channels=audio.codec_context.channels,
        audio_duration=float((end - first) * audio.time_base),
    )


def _video_pts(
    container: av.container.InputContainer, video: av.VideoStream, path: str
) -> np.ndarray:
    """Sorted presentation timestamps of every non-empty video packet."""
    pts = []
    try:
        for packet in container.demux(video):
            if packet.size and (packet.pts is not None or packet.dts is not None):
                pts.append(packet.pts if packet.pts is not None else packet.dts)
    except _AV_ERRORS as error:
        if not pts:
            raise MediaError(path, f"cannot demux the video stream ({error})") from error
    if not pts:
        raise MediaError(path, "video stream has no frames")
    return np.sort(np.asarray(pts, dtype=np.float64))


def _fps_from_times(times: np.ndarray, path: str) -> float:
    if len(times) < 2 or times[-1] <= 0:
        raise MediaError(path, "cannot tell the frame rate (one frame and no nominal rate)")
    return (len(times) - 1) / float(times[-1])


class MediaReader:
    """Frames and audio of one probed file; use as a context manager or call :meth:`close`."""

    backend: str = ""

    def __init__(self, info: MediaInfo, num_threads: int = 1):
        self.info = info
        self.num_threads = num_threads

    def frames(self, indices: Sequence[int]) -> torch.Tensor:
        """RGB frames at display-order ``indices`` as uint8 ``[N, H, W, 3]``."""
        raise NotImplementedError

    def audio(self, sample_rate: int, end: float) -> torch.Tensor:
        """Mono float32 waveform ``[S]`` at ``sample_rate`` on the video timeline, from 0 to ``end``
        seconds (zeros where the audio track starts late or ends early)."""
        return decode_audio(self.info, sample_rate, end)

    def audio_windows(self, sample_rate: int, begins: Sequence[int], length: int) -> torch.Tensor:
        """Mono float32 ``[K, length]``: the ``length`` samples from each of ``begins`` (sample
        indices on the video timeline), decoded as a stream (memory independent of duration)."""
        return decode_audio_windows(self.info, sample_rate, begins, length)

    def close(self) -> None:
        """Release the decoder (idempotent)."""

    def __enter__(self) -> MediaReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PyAVReader(MediaReader):
    """Decodes forward from the start in display order; frame ``k`` is the k-th decoded frame.

    Consecutive calls continue the same decoding pass as long as no index falls before the first
    index of the previous call (the frames decoded since then are kept, undecoded to RGB), so
    overlapping clips read in order decode the file once.
    """

    backend = "pyav"

    def __init__(self, info: MediaInfo, num_threads: int = 1):
        super().__init__(info, num_threads)
        self._container: av.container.InputContainer | None = None
        self._decoded: Iterator[av.VideoFrame] | None = None
        self._next = 0
        self._recent: dict[int, av.VideoFrame] = {}

    def _restart(self) -> None:
        self.close()
        self._container = open_container(self.info.path)
        stream = self._container.streams.video[self._stream_position()]
        stream.thread_count = self.num_threads
        self._decoded = self._container.decode(stream)
        self._next = 0
        self._recent = {}

    def _stream_position(self) -> int:
        streams = self._container.streams.video
        return next(i for i, s in enumerate(streams) if s.index == self.info.video_stream)

    def frames(self, indices: Sequence[int]) -> torch.Tensor:
        wanted = sorted(set(indices))
        if self._decoded is None or wanted[0] < min(self._recent, default=self._next):
            self._restart()
        self._recent = {i: f for i, f in self._recent.items() if i >= wanted[0]}
        try:
            while self._next <= wanted[-1]:
                self._recent[self._next] = next(self._decoded)
                self._next += 1
        except StopIteration:
            pass
        except _AV_ERRORS as error:
            raise MediaError(self.info.path, f"video decoding failed ({error})") from error
        found = {i: self._recent[i].to_ndarray(format="rgb24") for i in wanted if i in self._recent}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise MediaError(
                self.info.path,
                f"video ends after {self._next} decodable frames of {self.info.num_frames} indexed",
            )
        return displayed(
            torch.from_numpy(np.stack([found[i] for i in indices])), self.info.rotation
        )

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container, self._decoded, self._recent = None, None, {}


class DecordReader(MediaReader):
    """decord ``VideoReader`` seeking to the requested frames; every call runs under a timeout."""

    backend = "decord"

    def __init__(self, info: MediaInfo, num_threads: int = 1, timeout: float = 60.0):
        super().__init__(info, num_threads)
        import decord

        self.timeout = timeout
        self._vr = _with_timeout(
            lambda: decord.VideoReader(local_path(info.path), num_threads=num_threads),
            timeout,
            info.path,
        )
        if len(self._vr) != info.num_frames:
            count = len(self._vr)
            self.close()
            raise MediaError(info.path, f"decord sees {count} frames, the index {info.num_frames}")

    def frames(self, indices: Sequence[int]) -> torch.Tensor:
        if self._vr is None:
            raise MediaError(self.info.path, "reader is closed")
        batch = _with_timeout(
            lambda: self._vr.get_batch(list(indices)).asnumpy(), self.timeout, self.info.path
        )
        return torch.from_numpy(batch)  # decord 0.6 turns rotated frames itself (tested)

    def close(self) -> None:
        self._vr = None


def _with_timeout(fn: Callable[[], T], timeout: float, path: str) -> T:
    """Run ``fn`` in a daemon thread; a call that neither returns nor raises in ``timeout``
    seconds is abandoned (decord's C calls release the GIL) and reported as a MediaError."""
    result: list = []

    def target() -> None:
        try:
            result.append((True, fn()))
        except Exception as error:  # re-raised in the caller's thread below
            result.append((False, error))

    thread = threading.Thread(target=target, daemon=True, name="avpet-decode")
    thread.start()
    thread.join(timeout)
    if not result:
        raise MediaError(path, f"decoder did not answer within {timeout:g} s")
    ok, value = result[0]
    if not ok:
        if isinstance(value, MediaError):
            raise value
        raise MediaError(path, f"decord failed ({type(value).__name__}: {value})") from value
    return value


def decode_audio(info: MediaInfo, sample_rate: int, end: float) -> torch.Tensor:
    """The chosen audio stream as mono float32 ``[round(end * sample_rate)]`` on the video timeline
    (see :class:`AudioStream`). Raises :class:`MediaError` if the file has no audio stream."""
    with AudioStream(info, sample_rate) as stream:
        return stream.read(0, int(round(end * sample_rate)))


class AudioStream:
    """The chosen audio stream of one file as mono float32 at ``sample_rate``, read front to back
    in pieces on the video timeline: memory holds only what was decoded past the last piece's
    start, whatever the file's length.

    FFmpeg's swresample does the downmix (standard matrix: centre and surrounds at -3 dB, LFE
    dropped) and the resampling. Raises :class:`MediaError` if the file has no audio stream.
    """

    def __init__(self, info: MediaInfo, sample_rate: int):
        if info.audio_stream is None:
            raise MediaError(info.path, "no audio stream")
        self.info = info
        self._container = open_container(info.path)
        stream = next(s for s in self._container.streams.audio if s.index == info.audio_stream)
        self._chunks = self._decode(stream, sample_rate)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._start = int(round(info.audio_offset * sample_rate))  # timeline sample of buffer[0]
        self._last = -(2**62)  # the last read's begin

    def _decode(self, stream: av.AudioStream, sample_rate: int) -> Iterator[np.ndarray]:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in self._container.decode(stream):
                for chunk in resampler.resample(frame):
                    yield chunk.to_ndarray().reshape(-1)
            for chunk in resampler.resample(None):
                yield chunk.to_ndarray().reshape(-1)
        except _AV_ERRORS as error:
            raise MediaError(self.info.path, f"audio decoding failed ({error})") from error

    def read(self, begin: int, length: int) -> torch.Tensor:
        """Samples ``[begin, begin + length)`` of the timeline ``[length]`` (zeros where the track
        starts late or ends early). ``begin`` may not decrease from one call to the next."""
        if begin < self._last:
            raise ValueError(f"AudioStream reads forward only ({begin} < {self._last})")
        self._last = begin
        pieces = [self._buffer]
        end = self._start + len(self._buffer)
        for chunk in self._chunks if end < begin + length else ():
            pieces.append(chunk)
            end += len(chunk)
            if end >= begin + length:
                break
        self._buffer = np.concatenate(pieces) if len(pieces) > 1 else self._buffer
        out = np.zeros(length, dtype=np.float32)
        _place(out, self._buffer, self._start - begin)
        drop = min(max(begin - self._start, 0), len(self._buffer))
        self._buffer, self._start = self._buffer[drop:], self._start + drop
        return torch.from_numpy(out)

    def close(self) -> None:
        """Release the decoder (idempotent)."""
        self._chunks.close()
        self._container.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_audio_windows(
    info: MediaInfo, sample_rate: int, begins: Sequence[int], length: int
) -> torch.Tensor:
    """Windows of ``length`` samples starting at sample ``begins[k]`` of the video timeline, as
    mono float32 ``[K, length]`` (zeros where the audio track starts late or ends early): one
    forward pass of an :class:`AudioStream`, so memory does not grow with the file's duration."""
    out = torch.zeros(len(begins), length)
    with AudioStream(info, sample_rate) as stream:
        for k in sorted(range(len(begins)), key=begins.__getitem__):
            out[k] = stream.read(begins[k], length)
    return out


def _place(out: np.ndarray, samples: np.ndarray, position: int) -> int:
    """Copy ``samples`` into ``out`` at ``position`` (clipped to its bounds); the next position."""
    lo, hi = max(position, 0), min(position + len(samples), len(out))
    if hi > lo:
        out[lo:hi] = samples[lo - position : hi - position]
    return position + len(samples)


def open_media(
    path: str | Path,
    backend: Backend = "auto",
    num_threads: int = 1,
    timeout: float = 60.0,
    max_pixels: int | None = None,
) -> MediaReader:
    """Probe ``path`` (frames up to ``max_pixels``, see :func:`probe`) and return a reader for it.

    ``backend="auto"`` uses decord for the containers in :data:`DECORD_FORMATS` and falls back to
    PyAV when decord is not installed, raises, or exceeds ``timeout`` seconds; other containers
    go to PyAV. ``"decord"`` and ``"pyav"`` force one decoder.
    """
    return reader_for(probe(path, max_pixels), backend, num_threads, timeout)


def reader_for(
    info: MediaInfo, backend: Backend = "auto", num_threads: int = 1, timeout: float = 60.0
) -> MediaReader:
    """A reader for the probed file ``info`` (see :func:`open_media`)."""
    if backend == "pyav" or (backend == "auto" and info.format not in DECORD_FORMATS):
        return PyAVReader(info, num_threads)
    if backend not in ("auto", "decord"):
        raise MediaError(info.path, f"unknown backend {backend!r} (auto, decord, pyav)")
    try:
        return DecordReader(info, num_threads, timeout)
    except (ImportError, MediaError) as error:
        if backend == "decord":
            if isinstance(error, ImportError):
                raise MediaError(info.path, "decord is not installed") from error
            raise
        return PyAVReader(info, num_threads)

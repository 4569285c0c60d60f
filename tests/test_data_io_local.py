"""Media paths are opened only as local files: never as an FFmpeg protocol, never over the network.

Every file here is generated in a temporary folder and named like an FFmpeg URL; a 127.0.0.1 HTTP
server records any request, and must receive none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from test_data_io import write_video

from avpet.data import create_transform, load_sample, open_media, probe, resolve_data_config
from avpet.errors import MediaError


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    """``(port, requests)`` of an HTTP server on 127.0.0.1 that records every request."""
    _Recorder.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], _Recorder.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def videos(tmp_path, monkeypatch):
    """A folder (the current directory) holding two real videos ``a.mp4`` and ``b.mp4``."""
    monkeypatch.chdir(tmp_path)
    write_video(tmp_path / "a.mp4", (64, 48), [40 * i for i in range(10)], audio=True)
    write_video(tmp_path / "b.mp4", (32, 32), [40 * i for i in range(10)])
    return tmp_path


def protocol_names(root: Path, port: int) -> list[str]:
    """Relative file names that FFmpeg reads as a protocol when given as a URL."""
    return [
        f"concat:{root}/a.mp4",  # a file outside the dataset
        "concat:a.mp4|b.mp4",  # two other files
        f"subfile,,start,0,end,0,,:{root}/a.mp4",
        "pipe:0",  # standard input: would hang
        f"http://127.0.0.1:{port}/x.mp4",  # a GET request to the server
        "file:a.mp4",
    ]


def _create(name: str, content: bytes) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_a_text_file_named_like_a_protocol_is_read_as_that_text_file(
    videos, server, index, backend
):
    port, requests = server
    name = protocol_names(videos, port)[index]
    _create(name, b"not a video.")  # 12 bytes
    with pytest.raises(MediaError, match="not a readable media file") as raised:
        open_media(name, backend)
    assert raised.value.path == name
    assert requests == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_a_video_named_like_a_protocol_is_read_as_that_video(videos, server, index, backend):
    """The file itself (b.mp4's 32x32 frames), not what the protocol would name (a.mp4)."""
    port, requests = server
    name = protocol_names(videos, port)[index]
    shutil.copy(videos / "b.mp4", _create(name, b""))
    with open_media(name, backend) as reader:
        assert (reader.info.width, reader.info.height) == (32, 32)
        frames = reader.frames([0, 9])
    assert frames.shape == (2, 32, 32, 3)
    assert requests == []


@pytest.mark.timeout(60)
def test_a_playlist_inside_a_file_reaches_no_server(videos, server):
    """An HLS playlist naming an http segment: PyAV's protocol whitelist is ``file`` only."""
    port, requests = server
    Path("list.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
        f"http://127.0.0.1:{port}/segment.ts\n#EXT-X-ENDLIST\n"
    )
    with pytest.raises(MediaError, match="list.m3u8"):
        load_sample("list.m3u8", create_transform(resolve_data_config("avpet_small_mid_lowrank")))
    assert requests == []


def test_frames_larger_than_the_limit_are_refused_from_the_header(tmp_path, monkeypatch):
    """A stream declaring frames above the limit is refused by the probe, before decoding; the
    limit can be lowered with ``AVPET_MAX_PIXELS`` or ``DataConfig.max_pixels``."""
    path = write_video(tmp_path / "wide.mp4", (640, 480), [0, 40])
    assert probe(path).width == 640
    monkeypatch.setenv("AVPET_MAX_PIXELS", str(320 * 240))
    with pytest.raises(MediaError, match=r"640x480 frames exceed max_pixels=76800 .*AVPET_MAX"):
        probe(path)
    cfg = resolve_data_config("avpet_small_mid_lowrank")
    assert cfg.max_pixels == 320 * 240
    with pytest.raises(MediaError, match="max_pixels=1000"):
        load_sample(path, create_transform(resolve_data_config(cfg, max_pixels=1000)))


def test_a_decompression_bomb_is_refused_before_any_frame_is_decoded(tmp_path):
    """One black 8192x4608 frame compresses to ~110 KB; decoding it takes 57 MB of YUV (FFmpeg's
    own stream probe decodes a first frame) and [F, H, W, 3] uint8 arrays beyond. The default limit
    (8K UHD) refuses it at the probe, which passes the limit to FFmpeg's decoders too: a fresh
    process probing it grows by 16 MiB (91 MiB without the decoder limit)."""
    import av

    path = tmp_path / "bomb.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 8192, 4608, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.zeros((4608, 8192, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(MediaError, match="8192x4608 frames exceed max_pixels=35389440"):
        open_media(path)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1] / 'benchmarks')!r})\n"
        "from peak import peak_rss_mib\n"
        "from avpet.data import probe\n"
        "from avpet.errors import MediaError\n"
        "before = peak_rss_mib()\n"
        "try:\n"
        f"    probe({str(path)!r})\n"
        "except MediaError:\n"
        "    print(peak_rss_mib() - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(done.stdout) < 40, done.stdout  # MiB: no 57 MB frame was allocated


def test_bad_max_pixels_setting_is_a_config_error(monkeypatch):
    from avpet.errors import ConfigError

    monkeypatch.setenv("AVPET_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="AVPET_MAX_PIXELS must be a positive number"):
        resolve_data_config("avpet_small_mid_lowrank")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_pipe_0_does_not_wait_on_standard_input(videos, backend):
    """A file named ``pipe:0`` in a process whose standard input stays open and silent: opened as
    FFmpeg's pipe protocol it would wait for ever; as a local file it is refused at once."""
    Path("pipe:0").write_bytes(b"not a video.")
    code = (
        "from avpet.data import open_media\n"
        "from avpet.errors import MediaError\n"
        "try:\n"
        f"    open_media('pipe:0', {backend!r})\n"
        "except MediaError as error:\n"
        "    print('refused:', error)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        child.wait(timeout=60)  # standard input stays open: only a hang would reach the timeout
    finally:
        child.kill()
        child.stdin.close()
    assert child.stdout.read().startswith("refused: pipe:0: not a readable media file")

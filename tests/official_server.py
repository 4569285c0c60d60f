"""A static file server on 127.0.0.1 standing in for storage.googleapis.com (stdlib, port 0).

It serves ``{path: bytes}`` as Google Cloud Storage serves public objects: ``GET``/``HEAD``,
``Content-Length``, ``Range: bytes=N-`` answered ``206`` with ``Content-Range`` (``416`` past
the end), and ``x-goog-hash: crc32c=…,md5=…`` of the whole object (``hashes=False`` leaves it out,
as a plain mirror would). Faults are injected once per path (the next request is served
normally): ``"truncate"`` announces the full size and closes after half the body, ``"corrupt"``
flips one byte in every KiB of the body. ``requests`` logs ``(method, path, Range header)``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from avpet.convert.crc32c import crc32c


class OfficialServer:
    """``with OfficialServer(files) as server:`` then ``AVPET_OFFICIAL_ENDPOINT=server.url``."""

    def __init__(self, files: dict[str, bytes], hashes: bool = True):
        self.files = dict(files)
        self.hashes = hashes
        self.faults: dict[str, str] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> OfficialServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path = unquote(urlsplit(self.path).path).lstrip("/")
                wanted = self.headers.get("Range")
                server.requests.append((self.command, path, wanted))
                data = server.files.get(path)
                if data is None:
                    self.send_error(404, "No such object")
                    return
                start = 0
                if wanted:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                part = data[start:]
                fault = server.faults.pop(path, None) if body else None
                if fault == "corrupt":
                    part = bytes(b ^ 0xFF if i % 1024 == 512 else b for i, b in enumerate(part))
                self.send_response(206 if wanted else 200)
                self.send_header("Content-Length", str(len(part)))
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                if server.hashes:
                    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
                    crc = base64.b64encode(crc32c(data).to_bytes(4, "big")).decode()
                    self.send_header("x-goog-hash", f"crc32c={crc}")
                    self.send_header("x-goog-hash", f"md5={md5}")
                self.end_headers()
                if not body:
                    return
                if fault == "truncate":
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        return Handler

"""A Hugging Face Hub on 127.0.0.1 for the tests: stdlib ``http.server``, port 0, no internet.

It serves hub-layout folders (``hub/<name>/`` = one repo: README.md, config.json, weights) with
the routes huggingface_hub uses (docs/hub.md):

* ``HEAD|GET /{org}/{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag`` (SHA-256),
  ``Content-Length``; 404 with ``X-Error-Code`` ``RepoNotFound`` / ``RevisionNotFound`` /
  ``EntryNotFound``;
* ``GET /api/models/{org}/{repo}[/revision/{rev}]`` and ``/api/models/{org}/{repo}/tree/{rev}``;
* for ``push_to_hub``: ``POST /api/repos/create``, ``/api/validate-yaml``,
  ``/api/models/{org}/{repo}/preupload/{rev}`` (every file "regular") and ``.../commit/{rev}``
  (NDJSON with base64 contents).

``python tests/hub_server.py --url-file FILE`` runs one until it is killed (docs/walkthrough.md),
writing its ``HF_ENDPOINT`` to FILE once it listens.

A revision is a branch name or a commit's 40-hex id (derived from the files' contents). Faults
can be injected per file: ``"truncate"`` sends a body shorter than the advertised size,
``"corrupt"`` flips bytes in the middle of the body.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

Files = dict[str, bytes]


@dataclass
class Repo:
    """One repository: commits by id (``path -> bytes``) and branches naming commits."""

    commits: dict[str, Files] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def commit(self, files: Files, branch: str = "main") -> str:
        digest = hashlib.sha1()
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
        sha = digest.hexdigest()
        self.commits[sha] = dict(files)
        self.branches[branch] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.branches.get(revision)


class HubServer:
    """``with HubServer() as hub: hub.publish("avpet/x", folder)``; ``hub.url`` is HF_ENDPOINT."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.faults: dict[tuple[str, str], str] = {}
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def publish(self, repo_id: str, folder: Path, branch: str = "main") -> str:
        """Commit every file of ``folder`` to ``repo_id`` on ``branch``; returns the commit id."""
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(Path(folder).rglob("*"))
            if p.is_file()
        }
        return self.repos.setdefault(repo_id, Repo()).commit(files, branch)

    def publish_hub_dir(self, hub_dir: Path, org: str) -> list[str]:
        """Publish each ``hub_dir/<name>/`` folder as ``org/<name>``; returns the repo ids."""
        ids = []
        for folder in sorted(p for p in Path(hub_dir).iterdir() if p.is_dir()):
            self.publish(f"{org}/{folder.name}", folder)
            ids.append(f"{org}/{folder.name}")
        return ids


def _handler_for(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        # ---- routing -----------------------------------------------------------------------

        def _route(self, method: str) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append((method, path))
            parts = path.strip("/").split("/")
            if method == "POST":
                return self._post(parts)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(method, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
            if len(parts) >= 4 and parts[:2] == ["api", "models"]:
                return self._api(method, "/".join(parts[2:4]), parts[4:])
            self._error(404, "RepoNotFound", f"no route {path}")

        def _repo_commit(self, repo_id: str, revision: str) -> tuple[Repo, str] | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                return None
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return None
            return repo, sha

        def _resolve(self, method: str, repo_id: str, revision: str, filename: str) -> None:
            found = self._repo_commit(repo_id, revision)
            if found is None:
                return
            repo, sha = found
            body = repo.commits[sha].get(filename)
            if body is None:
                return self._error(404, "EntryNotFound", f"{filename} does not exist", sha)
            headers = {
                "X-Repo-Commit": sha,
                "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
                "Content-Type": "application/octet-stream",
            }
            fault = hub.faults.get((repo_id, filename))
            if method == "GET" and fault == "truncate":
                # advertise the full size on HEAD, send half of it with a matching length on GET
                body = body[: len(body) // 2]
            elif method == "GET" and fault == "corrupt":
                middle = len(body) // 2
                body = (
                    body[:middle]
                    + bytes(b ^ 0xFF for b in body[middle : middle + 64])
                    + body[middle + 64 :]
                )
            self._send(200, body, headers, head_only=method == "HEAD")

        def _api(self, method: str, repo_id: str, rest: list[str]) -> None:
            revision = "main"
            if len(rest) >= 2 and rest[0] in ("revision", "tree"):
                revision = rest[1]
            found = self._repo_commit(repo_id, revision)
            if found is None:
                return
            repo, sha = found
            files = repo.commits[sha]
            if rest[:1] == ["tree"]:
                prefix = "/".join(rest[2:])
                listing = [
                    {"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                    for p, b in sorted(files.items())
                    if p.startswith(prefix)
                ]
                return self._json(200, listing, {"X-Repo-Commit": sha}, method == "HEAD")
            info = {
                "id": repo_id,
                "modelId": repo_id,
                "sha": sha,
                "private": False,
                "siblings": [{"rfilename": p} for p in sorted(files)],
            }
            self._json(200, info, {"X-Repo-Commit": sha}, method == "HEAD")

        def _post(self, parts: list[str]) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if parts == ["api", "repos", "create"]:
                request = json.loads(data)
                repo_id = f"{request.get('organization') or 'user'}/{request['name']}"
                if repo_id in hub.repos:
                    return self._error(409, None, "You already created this model repo")
                hub.repos[repo_id] = Repo()
                return self._json(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
            if parts == ["api", "validate-yaml"]:
                return self._json(200, {"warnings": []})
            if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
                files = json.loads(data)["files"]
                modes = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                    for f in files
                ]
                return self._json(200, {"files": modes})
            if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
                return self._commit("/".join(parts[2:4]), parts[5], data)
            self._error(404, "RepoNotFound", f"no route POST /{'/'.join(parts)}")

        def _commit(self, repo_id: str, branch: str, data: bytes) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            parent = repo.resolve(branch)
            files = dict(repo.commits[parent]) if parent else {}
            for line in data.splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] != "header":
                    return self._error(400, None, f"unsupported commit operation {item['key']}")
            sha = repo.commit(files, branch)
            url = f"{hub.url}/{repo_id}/commit/{sha}"
            self._json(200, {"commitUrl": url, "commitOid": sha, "success": True})

        # ---- responses ---------------------------------------------------------------------

        def _send(self, status: int, body: bytes, headers: dict, head_only: bool = False) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)

        def _json(self, status: int, data, headers: dict | None = None, head_only=False) -> None:
            body = json.dumps(data).encode()
            self._send(
                status, body, {"Content-Type": "application/json", **(headers or {})}, head_only
            )

        def _error(self, status: int, code: str | None, message: str, sha: str | None = None):
            headers = {"X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            if sha:
                headers["X-Repo-Commit"] = sha
            self._json(status, {"error": message}, headers, self.command == "HEAD")

    return Handler


def point_huggingface_hub_at(monkeypatch, endpoint: str, hf_home: Path, offline: bool = False):
    """Make huggingface_hub, already imported in this process, use ``endpoint`` and ``hf_home``.

    huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at import; this sets the
    environment (for subprocesses) and the module constants derived from it (for this process).
    """
    from huggingface_hub import constants, file_download

    cache = str(Path(hf_home) / "hub")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    # huggingface_hub < 1.0 also keeps a copy of the template in file_download
    monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template, raising=False)
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", cache)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a Hugging Face Hub stand-in on 127.0.0.1")
    parser.add_argument("--url-file", type=Path, required=True, help="write HF_ENDPOINT here")
    url_file = parser.parse_args().url_file
    hub = HubServer()  # listening from here on
    url_file.with_suffix(".tmp").write_text(hub.url)
    url_file.with_suffix(".tmp").replace(url_file)  # the file appears whole
    hub.serve_forever()

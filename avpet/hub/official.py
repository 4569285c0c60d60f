"""``pretrained=True`` for the authors' own checkpoints: download once, convert once, cache.

A model's ``official`` tag (:class:`~avpet.config.OfficialSource`, the table in
:mod:`avpet.convert.cards`) names the files the authors published. The first
``create_model(NAME, pretrained=True)`` downloads them (progress bar, resumable), checks them,
converts them as ``avpet convert-official`` does and keeps only the converted hub repo; every
later call loads that folder without touching the network.

* Cache: ``$HF_HOME/avpet/official/<model>/`` (``HF_HOME`` defaults to ``~/.cache/huggingface``),
  a hub repo folder (``config.json``, ``model.safetensors``, ``README.md``); downloads in progress
  live in ``.downloads/<model>/`` beside it (``<file>.incomplete`` until complete) and are
  deleted once converted.
* ``AVPET_OFFICIAL_ENDPOINT``: the download root, ``https://storage.googleapis.com`` by default
  (the public ``gs://`` buckets), or a mirror serving the same paths.
* ``HF_HUB_OFFLINE=1``: the cache only; a missing model is an error, nothing is downloaded.
* Integrity: the size the server announces (``Content-Length``, ``Content-Range``) and, where the
  server sends them (Google Cloud Storage does, as ``x-goog-hash``), the MD5 or CRC-32C of the
  whole file; the VATT reader then checks every tensor's CRC-32C. A damaged download is deleted
  and an interrupted one resumed (HTTP ``Range``) by the next call.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import importlib
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ..config import OfficialSource
from ..errors import CheckpointError, HubError
from ..outputs import atomic_directory
from .home import avpet_home
from .sources import CONFIG_NAME

ENDPOINT_VARIABLE = "AVPET_OFFICIAL_ENDPOINT"
DEFAULT_ENDPOINT = "https://storage.googleapis.com"
PARTIAL_SUFFIX = ".incomplete"
TIMEOUT = 30.0  # seconds without an answer (connect or read) before a download counts as failed
BLOCK = 1 << 20
TRUE = {"1", "on", "yes", "true"}


def official_endpoint() -> str:
    """The download root: ``$AVPET_OFFICIAL_ENDPOINT`` or Google Cloud Storage."""
    return (os.environ.get(ENDPOINT_VARIABLE) or DEFAULT_ENDPOINT).rstrip("/")


def official_cache() -> Path:
    """``$HF_HOME/avpet/official``, the folder of converted official checkpoints."""
    return avpet_home() / "official"


def official_repo(model_name: str, source: OfficialSource) -> Path:
    """The converted hub repo of ``model_name``'s official checkpoint: from the cache, else
    downloaded from ``source``, converted and cached first. Raises :class:`HubError` (no public
    URL, offline, unreachable, interrupted) or :class:`CheckpointError` (a damaged file)."""
    repo = official_cache() / model_name
    if (repo / CONFIG_NAME).is_file():
        return repo
    if not source.files:
        raise HubError(f"{model_name}.official: {source.manual}")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE:
        raise HubError(
            f"{model_name}.official is not in the cache {repo.parent} and HF_HUB_OFFLINE is set; "
            "run once online (or copy that folder) and retry"
        )
    from filelock import FileLock

    repo.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(repo.parent / f".{model_name}.lock")):  # one download per model at a time
        if not (repo / CONFIG_NAME).is_file():
            _fetch_and_convert(model_name, source, repo)
    return repo


def _fetch_and_convert(model_name: str, source: OfficialSource, repo: Path) -> None:
    downloads = repo.parent / ".downloads" / model_name
    endpoint = official_endpoint()
    print(
        f"avpet: {model_name}.official: downloading the authors' checkpoint from {endpoint} "
        f"(once; converted into {repo}).\nLicence of these weights: "
        f"{source.license.replace('**', '')}",  # the card's Markdown emphasis, not for a terminal
        file=sys.stderr,
    )
    files = [
        download(f"{endpoint}/{path}", downloads / PurePosixPath(path).name)
        for path in source.files
    ]
    convert = importlib.import_module(f"avpet.convert.{source.family}").convert_official
    try:
        with atomic_directory(repo, inputs=files) as tmp:
            convert(files[0], tmp, model_name=model_name)
    except CheckpointError as error:
        shutil.rmtree(downloads, ignore_errors=True)
        raise CheckpointError(
            error.path, f"{error.reason} (the download was deleted; the next call fetches it again)"
        ) from error
    shutil.rmtree(downloads, ignore_errors=True)


def download(url: str, target: Path) -> Path:
    """``url`` into ``target``, through ``target.incomplete``: a partial file left by an earlier
    call is resumed with an HTTP ``Range`` request. The size the server announced and its
    ``x-goog-hash`` checksums (if any) are checked before ``target`` appears."""
    if target.is_file():  # downloaded by an earlier call whose conversion did not finish
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    start = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # the partial file is not a prefix of this one
            partial.unlink()
            return download(url, target)
        raise HubError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise HubError(
            f"{url}: cannot download ({reason}); check the network, or set {ENDPOINT_VARIABLE} "
            "to a mirror"
        ) from error
    with response:
        total = _expected_size(response, start, url)
        if response.status != 206:
            start = 0
        hashes = goog_hashes(response.headers.get_all("x-goog-hash") or [])
        _receive(response, partial, start, total, url)
    size = partial.stat().st_size
    if total is not None and size != total:
        raise HubError(
            f"{url}: download interrupted after {size:,} of {total:,} bytes; call again to "
            f"resume ({partial} is kept)"
        )
    try:
        verify_hashes(partial, hashes)
    except CheckpointError as error:
        partial.unlink()
        raise CheckpointError(
            url, f"{error.reason}; deleted, the next call downloads it again"
        ) from error
    os.replace(partial, target)
    return target


def _expected_size(response, start: int, url: str) -> int | None:
    """The complete file's size the server announces (``Content-Range`` of a 206 answer, else
    ``Content-Length``), or ``None``."""
    if response.status == 206:
        header = response.headers.get("Content-Range") or ""
        unit, _, spec = header.partition(" ")
        first, total = spec.partition("-")[0], spec.partition("/")[2]
        if unit != "bytes" or first != str(start) or not total.isdigit():
            raise HubError(f"{url}: answered a resume from byte {start} with {header!r}")
        return int(total)
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _receive(response, partial: Path, start: int, total: int | None, url: str) -> None:
    """Append the body to ``partial`` (from byte ``start``) with a progress bar."""
    from tqdm import tqdm

    quiet = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower() in TRUE
    with (
        open(partial, "ab" if start else "wb") as out,
        tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
            desc=PurePosixPath(url).name, disable=quiet, file=sys.stderr,
        ) as bar,
    ):  # fmt: skip
        try:
            while block := response.read(BLOCK):
                out.write(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as error:
            out.flush()
            raise HubError(
                f"{url}: download interrupted after {out.tell():,} bytes ({error!r}); call again "
                f"to resume ({partial} is kept)"
            ) from error


def goog_hashes(values: list[str]) -> dict[str, bytes]:
    """``{"md5": digest, "crc32c": digest}`` from ``x-goog-hash`` headers
    (``crc32c=BASE64,md5=BASE64``, in one header or several)."""
    hashes = {}
    for value in values:
        for item in value.split(","):
            name, _, digest = item.strip().partition("=")
            try:
                hashes[name.lower()] = base64.b64decode(digest, validate=True)
            except ValueError:
                continue
    return hashes


def verify_hashes(path: Path, hashes: dict[str, bytes]) -> None:
    """Raise :class:`CheckpointError` if ``path``'s MD5 (preferred: fast) or else its CRC-32C
    differs from the server's."""
    check: tuple[str, Callable[[Path], bytes]] | None = None
    if "md5" in hashes:
        check = ("md5", _md5)
    elif "crc32c" in hashes:
        check = ("crc32c", _crc32c)
    if check is None:
        return
    name, digest = check
    if digest(path) != hashes[name]:
        raise CheckpointError(
            path, f"corrupted download: its {name.upper()} differs from the server's"
        )


def _md5(path: Path) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.digest()


def _crc32c(path: Path) -> bytes:
    import numpy as np

    from ..convert.crc32c import crc32c

    data = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else b""
    return crc32c(data).to_bytes(4, "big")

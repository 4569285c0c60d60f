"""Where weights come from: parse a source string and resolve it to local files.

Sources (the names timm and open_clip use):

* ``hf-hub:org/repo[@revision]``: a Hub repository, fetched with huggingface_hub, which honours
  ``HF_ENDPOINT``, ``HF_HOME`` / ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE`` and ``HF_TOKEN``;
* ``local-dir:/path``: a folder in the hub repo layout (``config.json`` + weights), as in ``hub/``;
* a plain path: a ``.safetensors`` file, or a folder in the hub layout.

A tag's own weights (``pretrained=True``) come from the first of: the Hub cache, the copy that
ships with the package (:mod:`.bundled`), the Hub (:func:`resolve_published`). A source given
explicitly is read as given.

Nothing here touches the network before :func:`resolve` is called, and huggingface_hub is only
imported then.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import CheckpointError, ConfigError, HubError
from .bundled import bundled_folder

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
CONNECT_TIMEOUT = 1.0  # seconds to reach the Hub before treating it as unreachable

SourceKind = Literal["hf-hub", "local-dir", "file"]


@dataclass(frozen=True)
class Source:
    """A parsed weights location; ``revision`` only applies to ``hf-hub``."""

    kind: SourceKind
    location: str
    revision: str | None = None

    def __post_init__(self):
        if self.kind not in ("hf-hub", "local-dir", "file"):
            raise ConfigError(f"unknown weights source kind {self.kind!r}")
        if self.kind == "hf-hub":
            org, _, name = self.location.partition("/")
            if not org or not name or "/" in name:
                raise ConfigError(f"hf-hub source needs 'org/repo', got {self.location!r}")
        elif self.revision is not None:
            raise ConfigError(f"a revision only applies to hf-hub sources, not {self}")

    def __str__(self) -> str:
        if self.kind == "file":
            return self.location
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.kind}:{self.location}{rev}"


@dataclass(frozen=True)
class Resolved:
    """Local files of a resolved source: weights always, ``config`` for hub-layout repos."""

    source: Source
    weights: Path
    config: Path | None


def weights_request(name: str, pretrained: bool | str) -> bool | str:
    """What a command loads for model ``name`` given ``pretrained``: that source if one is given,
    else the weights ``name`` itself names, a tag's (``arch.tag``) or a repo's (``hf-hub:...``,
    ``local-dir:...``): random ones under such a name would be a silent surprise; else none."""
    if isinstance(pretrained, str):  # a source, even an empty one (refused by create_model)
        return pretrained
    return pretrained or name.startswith(("hf-hub:", "local-dir:")) or "." in name


def parse_source(source: str | Path) -> Source:
    """``"hf-hub:org/repo@rev"`` / ``"local-dir:/p"`` / a path → :class:`Source`."""
    text = str(source)
    if text.startswith("hf-hub:"):
        repo, _, revision = text[len("hf-hub:") :].partition("@")
        return Source("hf-hub", repo, revision or None)
    if text.startswith("local-dir:"):
        return Source("local-dir", text[len("local-dir:") :])
    return Source("file", text)


def resolve(source: Source) -> Resolved:
    """Local paths of the weights (and ``config.json``) a source names; downloads if needed."""
    if source.kind == "hf-hub":
        return _resolve_hub(source)
    path = Path(source.location).expanduser()
    if source.kind == "local-dir" or path.is_dir():
        return _resolve_dir(source, path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    return Resolved(source, path, None)


def resolve_published(source: Source) -> Resolved:
    """The weights a tag names (``pretrained=True``): for ``hf-hub:`` the Hub cache's copy if it
    holds one, else the copy shipped with the package (unless a revision is pinned), else a
    download; any other source as :func:`resolve`. A fresh install thus works offline, and a
    newer upload, once downloaded, wins over the shipped copy."""
    if source.kind != "hf-hub":
        return resolve(source)
    cached = _from_cache(source)
    if cached is not None:
        return cached
    folder = bundled_folder(source.location) if source.revision is None else None
    if folder is not None:
        return _resolve_dir(Source("local-dir", str(folder)), folder)
    return _resolve_hub(source)


def _from_cache(source: Source) -> Resolved | None:
    """``config.json`` and its weights from the Hub cache, both at one commit, or ``None``
    (no network, whatever ``HF_HUB_OFFLINE`` says)."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(source.location, CONFIG_NAME, revision=source.revision)
    if not isinstance(config, str):
        return None
    commit = Path(config).parent.name
    weights = try_to_load_from_cache(
        source.location, weights_file_name(Path(config)), revision=commit
    )
    return Resolved(source, Path(weights), Path(config)) if isinstance(weights, str) else None


def resolve_config(source: Source) -> Path:
    """The local ``config.json`` of a hub-layout source (``hf-hub:`` or ``local-dir:``), without
    its weights."""
    if source.kind == "hf-hub":
        return _download(source, CONFIG_NAME, source.revision)
    config = Path(source.location).expanduser() / CONFIG_NAME
    if not config.is_file():
        raise CheckpointError(config, "missing: a hub repo folder needs config.json and weights")
    return config


def _resolve_dir(source: Source, folder: Path) -> Resolved:
    if not folder.is_dir():
        raise CheckpointError(folder, "no such directory (local-dir: needs a hub repo folder)")
    config = folder / CONFIG_NAME
    if not config.is_file():
        raise CheckpointError(config, "missing: a hub repo folder needs config.json and weights")
    weights = folder / weights_file_name(config)
    if not weights.is_file():
        raise CheckpointError(weights, f"missing (named in {config})")
    return Resolved(source, weights, config)


def weights_file_name(config: Path) -> str:
    """The weights file a repo's ``config.json`` names (``model.safetensors`` by default)."""
    return weights_record(read_json(config), config)["file"]


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; :class:`CheckpointError` for anything else."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(path, f"not a readable JSON file ({error})") from error
    if not isinstance(data, dict):
        raise CheckpointError(path, "must hold a JSON object")
    return data


def weights_record(config: dict, path: Path) -> dict:
    """``config["weights"]`` checked: ``{"file": NAME.safetensors, "sha256": 64 hex digits or
    absent, "bytes": a size or absent}``; the file defaults to ``model.safetensors``."""
    record = config.get("weights", {})
    if not isinstance(record, dict):
        raise CheckpointError(path, f'"weights" must be an object, got {record!r:.80}')
    name = record.get("file", WEIGHTS_NAME)
    if not isinstance(name, str) or "/" in name or not name.endswith(".safetensors"):
        raise CheckpointError(path, f"weights file must be a .safetensors name, got {name!r:.80}")
    digest, size = record.get("sha256"), record.get("bytes")
    if digest is not None and not (
        isinstance(digest, str) and len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    ):
        raise CheckpointError(path, f"weights sha256 must be 64 hex digits, got {digest!r:.80}")
    if size is not None and not (
        isinstance(size, int) and not isinstance(size, bool) and size >= 0
    ):
        raise CheckpointError(path, f"weights bytes must be a size in bytes, got {size!r:.80}")
    return {**record, "file": name}


def _resolve_hub(source: Source) -> Resolved:
    """Fetch ``config.json`` then the weights it names, both at the same commit."""
    config = _download(source, CONFIG_NAME, source.revision)
    # hf_hub_download returns .../snapshots/<commit>/<file>: pin the weights to that commit.
    commit = config.parent.name
    weights = _download(source, weights_file_name(config), commit)
    return Resolved(source, weights, config)


def _download(source: Source, filename: str, revision: str | None) -> Path:
    """``hf_hub_download`` with its failures turned into one :class:`HubError` each."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{source} ({constants.ENDPOINT})"
    # Offline, or an unreachable endpoint, answers from the cache at once (huggingface_hub would
    # retry ~20 s for the latter; before 1.0 it read HF_HUB_OFFLINE once per session).
    cache_only = constants.HF_HUB_OFFLINE or not endpoint_reachable(constants.ENDPOINT)
    try:
        return Path(
            hf_hub_download(
                source.location, filename, revision=revision, local_files_only=cache_only
            )
        )
    except RepositoryNotFoundError as error:
        reason = "repository not found (check the name, HF_ENDPOINT, or HF_TOKEN if private)"
        raise HubError(f"{where}: {reason}") from error
    except RevisionNotFoundError as error:
        raise HubError(f"{where}: revision {revision!r} not found") from error
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:
        mode = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the Hub is unreachable"
        raise HubError(
            f"{where}: {filename} is not in the local cache {constants.HF_HUB_CACHE} and {mode}; "
            "download it once online (or copy the cache) and retry"
        ) from error
    except EntryNotFoundError as error:
        raise HubError(
            f"{where}: file {filename!r} not found: an avpet repo holds {CONFIG_NAME} and "
            f"{WEIGHTS_NAME}"
        ) from error
    except (HfHubHTTPError, OSError) as error:
        raise HubError(f"{where}: downloading {filename} failed: {error}") from error
    except Exception as error:  # httpx transport errors after huggingface_hub's retries
        raise HubError(f"{where}: downloading {filename} failed: {error!r}") from error


def endpoint_reachable(endpoint: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether a TCP connection to ``endpoint`` (or the proxy the environment names for it)
    opens within ``timeout`` seconds, name lookup included."""
    url = urllib.parse.urlsplit(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_url = urllib.parse.urlsplit(proxy)
        host, port = proxy_url.hostname or "", proxy_url.port or 80
    opened: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.append(True)
        except OSError:
            opened.append(False)

    probe = threading.Thread(target=connect, daemon=True)  # a hung name lookup is left behind
    probe.start()
    probe.join(timeout)
    return bool(opened and opened[0])

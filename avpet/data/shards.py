"""Video shards: WebDataset tar files of original media bytes, written by ``avpet shard`` and
streamed by :class:`ShardDataset` (docs/data.md, "Shards"; the library choice in docs/scaling.md).

A shard set is a folder (local, or at an ``s3://``, ``gs://`` or ``http(s)://`` prefix) holding
``shard-000000.tar``, ... and ``shards.json``, the index in WebDataset's ``wids`` format (each
shard's file name, sample count and size) plus avpet's list of the files it skipped. A sample is
``KEY.EXT`` (the file's bytes, as they were) and ``KEY.json`` (its name and what the probe saw).

Stores are opened with fsspec (``s3fs`` / ``gcsfs`` for ``s3://`` / ``gs://``); nothing is ever
run: a ``pipe:`` URL, an FFmpeg protocol name or a shard entry that is not a plain ``.tar`` name
beside the index is refused. Bytes are decoded by the same code as files (:mod:`avpet.data.io`),
from a temporary local copy, so a shard's sample equals the file's bitwise.

Streaming order (a pure function of the seed, the epoch and the slot, so a run resumes exactly):
each epoch the shard list is shuffled with ``(seed, epoch)`` and dealt to the ``ranks x workers``
slots (slot ``rank * workers + worker`` takes every ``slots``-th shard); a slot reads its shards
in that order through a seeded buffer of ``buffer`` samples and emits ``quota`` samples, the same
for every slot (⌊samples / slots / batch⌋ batches), going round its shards again (a new round
through the buffer) if they hold fewer. An unreadable shard stops the run with an error naming
it, or with ``on_error="skip"`` is skipped with a warning naming it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from ..errors import ConfigError, DependencyError, MediaError
from ..extras import require
from ..outputs import atomic_directory
from .config import DataConfig
from .datasets import seeded_call
from .io import probe
from .loader import load_sample
from .sources import find_media
from .transforms import create_transform

logger = logging.getLogger(__name__)

INDEX_NAME = "shards.json"
REMOTE_SCHEMES = ("s3", "gs", "gcs", "http", "https")
_SHARD_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\.tar")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


# ---- locations ------------------------------------------------------------------------------


def is_shard_set(train: str) -> bool:
    """Whether ``data.train`` names shards: a URL, a ``.json`` index or a folder holding one."""
    if _remote_scheme(train) or train.endswith(".json"):
        return True
    return (Path(train) / INDEX_NAME).is_file()


def _remote_scheme(location: str) -> str:
    """``location``'s store scheme (``""`` for a local path, which an existing file or folder
    always is, whatever its name); anything else is refused."""
    match = _SCHEME.match(location)
    if match is None or re.match(r"^[A-Za-z]:[\\/]", location) or Path(location).exists():
        return ""
    scheme = match.group(1).lower()
    if scheme not in REMOTE_SCHEMES or not location[match.end() :].startswith("//"):
        raise ConfigError(
            f"{location}: not a shard location; give a local folder or an "
            f"{', '.join(s + '://' for s in REMOTE_SCHEMES)} URL (nothing is executed: no pipe:)"
        )
    return scheme


def open_location(location: str) -> IO[bytes]:
    """A local file or a store URL opened for reading bytes (fsspec for the stores)."""
    if not _remote_scheme(location):
        try:
            return open(location, "rb")  # noqa: SIM115 -- the caller closes it
        except OSError as error:
            raise MediaError(location, f"cannot open ({error.strerror or error})") from error
    try:
        import fsspec

        return fsspec.open(location, "rb").open()
    except ImportError as error:  # fsspec names the package its store needs
        raise DependencyError(f"{location}: {error}") from error
    except Exception as error:  # each store's client raises its own types
        raise MediaError(location, f"cannot open ({type(error).__name__}: {error})") from error


def _index_location(train: str) -> str:
    if train.endswith(".json"):
        return train
    if _remote_scheme(train):
        return f"{train.rstrip('/')}/{INDEX_NAME}"
    return str(Path(train) / INDEX_NAME)


@dataclass(frozen=True)
class ShardSet:
    """The shards an index lists: ``urls[i]`` holds ``counts[i]`` samples."""

    index: str
    urls: tuple[str, ...]
    counts: tuple[int, ...]

    @property
    def num_samples(self) -> int:
        return sum(self.counts)


def read_shard_set(train: str) -> ShardSet:
    """The shard set ``train`` names (a folder or URL prefix, or its ``shards.json``)."""
    require("shards", "reading shards")
    index = _index_location(train)
    _remote_scheme(index)  # refuses what is neither a local path nor a store URL
    try:
        with open_location(index) as f:
            text = f.read()
        entries = json.loads(text)["shardlist"]
        names = [str(e["url"]) for e in entries]
        counts = [int(e["nsamples"]) for e in entries]
    except MediaError as error:
        raise ConfigError(f"{index}: cannot read the shard index ({error.reason})") from error
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{index}: not a shard index ({error!r})") from error
    for name in names:
        if not _SHARD_NAME.fullmatch(name):
            raise ConfigError(f"{index}: shard {name!r} is not a .tar file name beside the index")
    if not names or min(counts) < 0:
        raise ConfigError(f"{index}: the index lists no shard")
    base = index.rsplit("/", 1)[0] if _remote_scheme(index) else str(Path(index).parent)
    sep = "/" if _remote_scheme(index) else os.sep
    return ShardSet(index, tuple(f"{base}{sep}{n}" for n in names), tuple(counts))


# ---- writing ----------------------------------------------------------------------------------


def write_shards(
    paths: list[str],
    out: str | Path,
    max_size: int = 1 << 30,
    max_count: int = 10_000,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Pack the media files ``paths`` point at (:func:`avpet.data.sources.find_media`) into tar
    shards of at most ``max_size`` bytes of media (a larger file gets a shard of its own) and
    ``max_count`` samples under the folder ``out``; returns the index written there. A file the
    probe refuses is skipped and listed in the index under ``avpet.skipped``."""
    require("shards", "avpet shard")
    from webdataset import TarWriter

    if max_size <= 0 or max_count <= 0:
        raise ConfigError(f"max_size and max_count must be > 0, got {max_size}, {max_count}")
    sources = find_media(paths)
    shardlist: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    with atomic_directory(out, overwrite, [s.path for s in sources]) as tmp:
        writer: TarWriter | None = None
        handle: IO[bytes] | None = None
        for source in sources:
            try:
                info = probe(source.path)
                data = Path(source.path).read_bytes()
            except MediaError as error:
                skipped.append({"path": source.path, "reason": error.reason})
                continue
            except OSError as error:
                skipped.append({"path": source.path, "reason": str(error.strerror or error)})
                continue
            current = shardlist[-1] if shardlist else None
            if (
                current is None
                or current["nsamples"] >= max_count
                or (current["filesize"] + len(data) > max_size and current["nsamples"])
            ):
                if writer is not None:
                    writer.close()
                    handle.close()
                name = f"shard-{len(shardlist):06d}.tar"
                handle = open(tmp / name, "wb")  # noqa: SIM115 -- closed with its writer
                writer = TarWriter(handle, encoder=False, mtime=0.0)
                current = {"url": name, "nsamples": 0, "filesize": 0}
                shardlist.append(current)
            meta = {
                "name": source.name,
                "size": len(data),
                "duration": info.duration,
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "has_audio": info.has_audio,
            }
            key = f"{sum(s['nsamples'] for s in shardlist):09d}"
            suffix = Path(source.path).suffix.lower().lstrip(".") or "bin"
            writer.write({"__key__": key, suffix: data, "json": json.dumps(meta).encode()})
            current["nsamples"] += 1
            current["filesize"] += len(data)
        if writer is not None:
            writer.close()
            handle.close()
        for entry in shardlist:
            entry["filesize"] = (tmp / entry["url"]).stat().st_size
        index = {
            "__kind__": "wids-shard-index-v1",
            "wids_version": 1,
            "name": Path(out).name,
            "shardlist": shardlist,
            "avpet": {"format": 1, "skipped": skipped},
        }
        (tmp / INDEX_NAME).write_text(json.dumps(index, indent=1) + "\n")
    if not shardlist:
        raise MediaError(str(paths[0]), f"no readable media file ({len(skipped)} skipped)")
    return index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, globs, manifests")
    parser.add_argument("--out", required=True, help="output folder (shards + shards.json)")
    parser.add_argument("--max-size", type=float, default=1e9, help="bytes of media per shard")
    parser.add_argument("--max-count", type=int, default=10_000, help="samples per shard")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(args: argparse.Namespace) -> int:
    index = write_shards(args.paths, args.out, int(args.max_size), args.max_count, args.overwrite)
    total = sum(s["nsamples"] for s in index["shardlist"])
    for item in index["avpet"]["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}")
    print(
        f"{total} videos in {len(index['shardlist'])} shards, "
        f"{len(index['avpet']['skipped'])} skipped: {Path(args.out) / INDEX_NAME}"
    )
    return 0


# ---- streaming --------------------------------------------------------------------------------


class ShardDataset(IterableDataset):
    """Samples of :func:`avpet.data.loader.load_sample` streamed from a :class:`ShardSet`.

    Call :meth:`configure` with this process's rank and the loader's workers and batch size, and
    :meth:`set_position` before each epoch's DataLoader iterator. Each sample also carries
    ``stream_pos``: how many buffered samples its worker has taken this epoch (what
    ``set_position`` resumes from).
    """

    def __init__(
        self,
        shards: ShardSet,
        cfg: DataConfig,
        is_training: bool = False,
        on_error: Literal["raise", "skip"] = "raise",
        seed: int = 0,
        buffer: int = 64,
    ):
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.shards, self.transform = shards, create_transform(cfg, is_training)
        self.on_error, self.seed, self.buffer = on_error, seed, max(buffer, 1)
        self.configure(0, 1, 0, 1)

    def configure(self, rank: int, world_size: int, num_workers: int, batch_size: int) -> None:
        """Place this dataset as ``rank`` of ``world_size`` read by ``num_workers`` workers."""
        self.rank, self.workers, self.batch_size = rank, max(num_workers, 1), batch_size
        self.slots = world_size * self.workers
        if len(self.shards.urls) < self.slots:
            raise ConfigError(
                f"{self.shards.index}: {len(self.shards.urls)} shards for {world_size} ranks x "
                f"{self.workers} workers; every worker needs one: write smaller shards "
                "(avpet shard --max-count) or use fewer workers"
            )
        self.quota = self.shards.num_samples // self.slots // batch_size * batch_size
        if self.quota == 0:
            raise ConfigError(
                f"{self.shards.index}: {self.shards.num_samples} samples are fewer than one "
                f"batch of {batch_size} for each of {self.slots} workers (ranks x workers)"
            )
        self.set_position(0, 0, None)

    def batches_per_epoch(self) -> int:
        """Batches one rank reads per epoch (every rank the same)."""
        return self.workers * self.quota // self.batch_size

    def set_position(self, epoch: int, batch: int, taken: list[int] | None) -> None:
        """Start ``batch`` batches into ``epoch``, each worker's stream ``taken[w]`` samples in.

        The loader's worker 0 resumes as the worker whose batch comes next, so batches arrive in
        the order of an uninterrupted epoch.
        """
        self.epoch, self.offset = epoch, batch % self.workers
        self.taken = list(taken) if taken is not None else [0] * self.workers
        self.emitted = [
            len(range(w, batch, self.workers)) * self.batch_size for w in range(self.workers)
        ]
        if len(self.taken) != self.workers:
            raise ConfigError(f"{len(self.taken)} worker positions for {self.workers} workers")

    def assignment(self, epoch: int) -> list[list[int]]:
        """Shard indices of every slot in ``epoch`` (slot ``rank * workers + worker``)."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.shards.urls))
        return [order[slot :: self.slots].tolist() for slot in range(self.slots)]

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker = ((0 if info is None else info.id) + self.offset) % self.workers
        slot = self.rank * self.workers + worker
        mine = self.assignment(self.epoch)[slot]
        rng = np.random.default_rng([self.seed, self.epoch, slot])
        stream = self._cycle(mine, rng)
        emitted, start = self.emitted[worker], self.taken[worker]
        for position, item in enumerate(itertools.islice(stream, start, None), start + 1):
            if emitted >= self.quota:
                return
            key = (self.seed, self.epoch, slot, position)
            try:
                sample = seeded_call(key, self._decode, item)
            except MediaError as error:
                if self.on_error == "raise":
                    raise
                logger.warning("skipping unusable video: %s", error)
                continue
            emitted += 1
            yield {**sample, "stream_pos": position}

    def _cycle(self, mine: list[int], rng: np.random.Generator) -> Iterator[dict]:
        """The samples of shards ``mine`` through the shuffle buffer, round after round (each
        round drains the buffer); raises once a whole round reads none."""
        while True:
            found = 0
            shard_samples = (s for i in mine for s in self._read_shard(self.shards.urls[i]))
            for sample in _shuffled(shard_samples, self.buffer, rng):
                found += 1
                yield sample
            if not found:
                raise MediaError(
                    ", ".join(self.shards.urls[i] for i in mine), "no sample could be read"
                )

    def _read_shard(self, url: str) -> Iterator[dict]:
        from webdataset.tariterators import group_by_keys, tar_file_iterator

        try:
            with open_location(url) as stream:
                files = ({**f, "__url__": url} for f in tar_file_iterator(stream))
                yield from group_by_keys(files)
        except Exception as error:  # a store's or tarfile's own error types
            if isinstance(error, MediaError) and error.path == url:
                reason = error.reason
            else:
                reason = f"{type(error).__name__}: {error}"
            if self.on_error == "raise":
                raise MediaError(url, f"cannot read the shard ({reason})") from error
            logger.warning("skipping unreadable shard %s: %s", url, reason)

    def _decode(self, item: dict) -> dict:
        """One sample of a shard (``KEY.json`` and ``KEY.EXT``) decoded as its file would be."""
        media = [k for k in item if not k.startswith("__") and k != "json"]
        try:
            meta = json.loads(item["json"])
            name = f"{item['__url__']}#{meta['name']}"
        except (KeyError, TypeError, ValueError) as error:
            where = f"{item['__url__']}#{item.get('__key__')}"
            raise MediaError(where, "not an avpet shard sample (no KEY.json record)") from error
        if len(media) != 1:
            raise MediaError(name, f"one media file expected in the sample, found {media}")
        suffix = media[0]
        with tempfile.NamedTemporaryFile(suffix=f".{suffix}", prefix="avpet-shard-") as f:
            f.write(item[suffix])
            f.flush()
            try:
                sample = load_sample(f.name, self.transform)
            except MediaError as error:
                raise MediaError(name, error.reason) from error
        return {**sample, "path": name}


def _shuffled(stream: Iterator[dict], size: int, rng: np.random.Generator) -> Iterator[dict]:
    """``stream`` through a buffer of ``size`` items: once full, each new item replaces a
    random one, which is emitted (WebDataset's shuffle, with an explicit generator)."""
    buffer: list[dict] = []
    for item in stream:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(rng.integers(size))
        yield buffer[j]
        buffer[j] = item
    for j in rng.permutation(len(buffer)):
        yield buffer[j]

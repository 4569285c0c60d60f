"""Features on disk: one safetensors file per video, and the ``index.csv`` of a folder of them.

A file holds every level the model declares, ``"{modality}_{level}"``: ``[N, C]`` for a level
with one feature per clip (N clips), ``[W, C]`` for one per sequence (W windows of the model's
sequence length); ``start`` / ``end`` ``[N]`` float64 seconds and ``window`` ``[N]`` int64 (the
window of each clip); ``has_visual`` / ``has_audio`` (bool scalars). A modality the file lacks is
zeros, so every file of one model has the same keys and widths. Its metadata: format, source
path, model, tag, weights, input spec (JSON), crop, duration, avpet version.

Every write goes to a temporary file in the same folder, then ``os.replace``: a killed run leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from ..errors import MediaError
from ..outputs import atomic_file, file_lock, utf8_name

FORMAT = "avpet-features-v2"
INDEX = "index.csv"
COLUMNS = ("path", "output", "status", "duration", "clips", "error", "model")
_TIMES = ("start", "end", "window")
_FLAGS = ("has_visual", "has_audio")


@dataclass(frozen=True)
class VideoFeatures:
    """The features of one video (see the module docstring for the keys and shapes)."""

    path: str
    features: dict[str, torch.Tensor]
    start: torch.Tensor
    end: torch.Tensor
    window: torch.Tensor
    has_visual: bool
    has_audio: bool
    duration: float
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def num_clips(self) -> int:
        return len(self.start)


def save_features(record: VideoFeatures, path: Path) -> None:
    """Write ``record`` to ``path`` atomically."""
    tensors = {k: v.contiguous() for k, v in record.features.items()}
    tensors.update(start=record.start, end=record.end, window=record.window)
    tensors.update(
        has_visual=torch.tensor(record.has_visual), has_audio=torch.tensor(record.has_audio)
    )
    metadata = {**record.metadata, "format": FORMAT, "path": utf8_name(record.path)}
    metadata["duration"] = repr(record.duration)
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_bytes(save(tensors, metadata=metadata))


def read_features(path: str | Path) -> VideoFeatures:
    """One file written by ``avpet extract`` (:class:`MediaError` if it is not one). Read as bytes,
    so any file name works (safetensors' own reader wants UTF-8 paths)."""
    try:
        data = Path(path).read_bytes()
        size = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
        tensors = load(data)
    except (OSError, ValueError, AttributeError, SafetensorError) as error:
        raise MediaError(path, f"not a readable features file ({error})") from error
    if metadata.get("format") != FORMAT:
        raise MediaError(path, f"not an avpet features file (format {metadata.get('format')!r})")
    times = {k: tensors.pop(k) for k in _TIMES}
    flags = {k: bool(tensors.pop(k)) for k in _FLAGS}
    return VideoFeatures(
        path=metadata["path"],
        features=tensors,
        **times,
        **flags,
        duration=float(metadata["duration"]),
        metadata=metadata,
    )


class Index:
    """``DIR/index.csv``: one row per input (:data:`COLUMNS`), rewritten atomically after each
    video (at most once per ``every`` seconds; :meth:`flush` at the end), so a killed run loses at
    most that much of its record and a rerun redoes only those videos.

    Writers merge: :meth:`flush` rereads the file under ``index.csv.lock`` and replaces only the
    rows this object recorded, so processes writing one index at once (two runs, or the ranks of
    a distributed run) keep every row.

    ``status`` is ``done`` or ``error``; ``output`` is relative to ``DIR``. The CSV reads with
    ``pandas.read_csv`` or ``pyarrow.csv.read_csv``. With ``rank`` (one process of a distributed
    extraction) the rows this process records go to its own part, ``index.rank00003.csv``, which
    :func:`merge_index_parts` folds into ``index.csv``.
    """

    def __init__(self, folder: Path, every: float = 1.0, rank: int | None = None):
        self.folder = Path(folder)
        self.path = self.folder / (INDEX if rank is None else PART.format(rank=rank))
        self.every = every
        self._written = -math.inf
        self._recorded: dict[str, dict[str, str]] = {}
        self.rows = _read_rows(self.folder / INDEX)

    def done(self, path: str, model: str) -> bool:
        """Whether ``path`` was extracted by ``model`` and its output is still there."""
        row = self.rows.get(path)
        return (
            row is not None
            and row["status"] == "done"
            and row["model"] == model
            and (self.folder / row["output"]).is_file()
        )

    def models(self) -> set[str]:
        return {row["model"] for row in self.rows.values()}

    def record(self, **row: object) -> None:
        """Add or replace the row of ``row["path"]``; rewrite the file if ``every`` s passed."""
        cells = {c: "" if row.get(c) is None else str(row[c]) for c in COLUMNS}
        self.rows[cells["path"]] = self._recorded[cells["path"]] = cells
        if time.monotonic() - self._written >= self.every:
            self.flush()

    def flush(self) -> None:
        """Rewrite the file atomically: ``index.csv`` with the rows on disk now and this object's
        over them (under ``index.csv.lock``), a part with this process's rows."""
        self._written = time.monotonic()
        if self.path.name != INDEX:
            _write_rows(self.path, self._recorded)
            return
        with file_lock(self.folder / LOCK):
            self.rows = {**_read_rows(self.path), **self._recorded}
            _write_rows(self.path, self.rows)


PART = "index.rank{rank:05d}.csv"
LOCK = INDEX + ".lock"


def merge_index_parts(folder: Path) -> int:
    """Fold every ``index.rank*.csv`` part under ``folder`` into its ``index.csv`` (a part's row
    replaces the index's row of the same path) and remove the parts; how many were merged."""
    folder = Path(folder)
    parts = sorted(folder.glob(PART.replace("{rank:05d}", "*")))
    if parts:
        with file_lock(folder / LOCK):
            rows = _read_rows(folder / INDEX)
            for part in parts:
                rows.update(_read_rows(part))
            _write_rows(folder / INDEX, rows)
            for part in parts:
                part.unlink()
    return len(parts)


def _read_rows(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as file:
        return {row["path"]: row for row in csv.DictReader(file)}


def _write_rows(path: Path, rows: dict[str, dict[str, str]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows.values())
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_text(text.getvalue(), encoding="utf-8", errors="backslashreplace")

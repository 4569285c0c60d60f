"""What the user points at → the media files to read, each with a name for its output.

A PATH is a media file, a folder (searched recursively for :data:`MEDIA_EXTENSIONS`), a glob
(``"videos/**/*.mp4"``) or a manifest: a ``.csv`` with a ``path`` column or a ``.txt`` with one
path a line (relative paths are relative to the manifest; blank lines and ``#`` comments are
skipped). A file reached twice is read once.

Names mirror the input tree: each file's path relative to the deepest folder that holds every
anchor (the folders given, and the folder of each file given by name, by glob or by a
manifest), with its whole file name kept. Distinct files therefore always get distinct names.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

MEDIA_EXTENSIONS = frozenset(
    {".3gp", ".avi", ".flv", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".mts", ".ogv"}
    | {".ts", ".webm", ".wmv", ".aac", ".flac", ".m4a", ".mp3", ".ogg", ".opus", ".wav"}
)
MANIFEST_EXTENSIONS = frozenset({".csv", ".txt"})
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Source:
    """One media file to read: ``path`` as given (made absolute) and its relative ``name``."""

    path: str
    name: str


def find_media(paths: list[str | Path] | str | Path) -> list[Source]:
    """The media files ``paths`` point at, in order, each named as the module docstring says.

    A missing file given by name is kept (reading it reports the error); a folder, glob or
    manifest that yields nothing, or a manifest that cannot be read, is a :class:`ConfigError`.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: dict[str, None] = {}
    anchors: list[str] = []
    for given in map(str, paths):
        found, anchor = _expand(given)
        anchors.append(anchor)
        files.update(dict.fromkeys(found))
    if not files:
        raise ConfigError("no media files given")
    root = os.path.commonpath(anchors)
    return [Source(path, os.path.relpath(path, root)) for path in files]


def _expand(given: str) -> tuple[list[str], str]:
    """The files of one PATH (absolute) and the folder names are relative to."""
    path = Path(given)
    if path.is_dir():
        found = sorted(
            str(p.absolute())
            for p in path.rglob("*")
            if p.suffix.lower() in MEDIA_EXTENSIONS and p.is_file()
        )
        if not found:
            raise ConfigError(f"{given}: no media files ({', '.join(sorted(MEDIA_EXTENSIONS))})")
        return found, str(path.absolute())
    if path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
        found = [str((path.parent / p).absolute()) for p in _manifest(path)]
        if not found:
            raise ConfigError(f"{given}: the manifest lists no file")
        return found, os.path.commonpath([os.path.dirname(f) for f in found])
    if not path.exists() and _GLOB_CHARS & set(given):
        found = sorted(
            str(Path(p).absolute()) for p in glob.glob(given, recursive=True) if Path(p).is_file()
        )
        if not found:
            raise ConfigError(f"{given}: the pattern matches no file")
        return found, os.path.commonpath([os.path.dirname(f) for f in found])
    absolute = str(path.absolute())
    return [absolute], os.path.dirname(absolute)


def _manifest(path: Path) -> list[str]:
    """The paths a ``.csv`` (``path`` column) or ``.txt`` (one a line) manifest lists."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the manifest ({error})") from error
    if path.suffix.lower() == ".txt":
        lines = (line.strip() for line in text.splitlines())
        return [line for line in lines if line and not line.startswith("#")]
    rows = csv.DictReader(text.splitlines())
    if "path" not in (rows.fieldnames or []):
        raise ConfigError(f"{path}: a CSV manifest needs a 'path' column, found {rows.fieldnames}")
    return [row["path"].strip() for row in rows if (row["path"] or "").strip()]

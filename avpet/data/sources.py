"""What the user points at → the media files to read, each with a name for its output.

A PATH is a media file, a folder (searched recursively for :data:`MEDIA_EXTENSIONS`), a glob
(``"videos/**/*.mp4"``) or a manifest: a ``.csv`` with a ``path`` column or a ``.txt`` with one
path a line (relative paths are relative to the manifest; blank lines and ``#`` comments are
skipped). A file reached twice is read once.

Each file's name depends only on the PATH that found it and that PATH's own root, never on what
else is passed: relative to the folder given (``videos/`` → ``a/clip.mp4``), the file name of a
file given by name, relative to a glob's folder before its first wildcard (``videos/**/*.mp4``
→ ``a/clip.mp4``) and to the deepest folder holding a manifest and what it lists. The whole file
name is kept. Two files of one call may then share a name (``a/x.mp4`` and ``c/x.mp4`` given by
name): :func:`check_distinct_names` refuses that where names become outputs.
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
    files: dict[str, str] = {}  # path -> its name (the first PATH that found it names it)
    for given in map(str, paths):
        found, root = _expand(given)
        for path in found:
            files.setdefault(path, os.path.relpath(path, root))
    if not files:
        raise ConfigError("no media files given")
    return [Source(path, name) for path, name in files.items()]


def check_distinct_names(sources: list[Source]) -> None:
    """A :class:`ConfigError` naming two files that would be written under one name."""
    seen: dict[str, str] = {}
    for source in sources:
        other = seen.setdefault(source.name, source.path)
        if other != source.path:
            raise ConfigError(
                f"{other} and {source.path} would both be written as {source.name}: give "
                "their common folder as one PATH, or extract them into different --out folders"
            )


def _expand(given: str) -> tuple[list[str], str]:
    """The files of one PATH (absolute) and the folder their names are relative to."""
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
        folders = [str(path.parent.absolute())] + [os.path.dirname(f) for f in found]
        return found, os.path.commonpath(folders)
    if not path.exists() and _GLOB_CHARS & set(given):
        found = sorted(
            str(Path(p).absolute()) for p in glob.glob(given, recursive=True) if Path(p).is_file()
        )
        if not found:
            raise ConfigError(f"{given}: the pattern matches no file")
        fixed = _prefix(path.parts)
        return found, str(Path(*fixed).absolute()) if fixed else os.getcwd()
    absolute = str(path.absolute())
    return [absolute], os.path.dirname(absolute)


def _prefix(parts: tuple[str, ...]) -> list[str]:
    """The folders of a glob before its first component with a wildcard."""
    fixed = []
    for part in parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return fixed


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

"""Outputs written atomically, never over an input or (without ``overwrite``) an existing result.

:func:`atomic_file` and :func:`atomic_directory` hand out a temporary path in the destination's
folder; only when the block succeeds is it moved onto the destination, so a crash, a full disk or
an error leaves either the complete new output or none of it (the temporary is removed). Without
``overwrite`` the move itself refuses an existing destination (``os.link`` for files, ``os.rename``
onto a non-empty folder), so of two runs writing one output at the same time exactly one succeeds.
Every failure is an :class:`~avpet.errors.OutputError` naming the output and the reason.
:func:`folder_lock` makes two runs that add to one output folder (``avpet extract``, ``avpet
index``) take turns, so neither loses the other's work and the second skips what the first did.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from safetensors import SafetensorError

from .errors import OutputError

TMP_SUFFIX = ".tmp"


def check_output(
    path: str | Path,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    folder: bool = False,
) -> Path:
    """``path`` as a :class:`Path` if a file (or, with ``folder``, a folder) may be written there:
    not one of ``inputs``, not the wrong kind, and, without ``overwrite``, not an existing file or
    non-empty folder."""
    path = Path(path)
    for item in inputs:
        if _same_file(path, Path(item)):
            raise OutputError(path, f"is an input ({item}); choose another output")
    if not folder and path.is_dir():
        raise OutputError(path, "is a directory; give a file name")
    if folder and path.exists() and not path.is_dir():
        raise OutputError(path, "is a file; give a folder name")
    if not overwrite and _occupied(path):
        raise OutputError(path, "already exists; pass --overwrite to replace it")
    return path


@contextlib.contextmanager
def atomic_file(
    path: str | Path, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Iterator[Path]:
    """A temporary file next to ``path``, moved onto ``path`` when the block succeeds.

    Raises :class:`OutputError` for an input, an existing output without ``overwrite``, a
    folder, or any OS error (read-only folder, full disk) while writing.
    """
    path = check_output(path, inputs, overwrite)
    with _failures(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary_name(path)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        with _failures(path):
            yield tmp
            _fsync(tmp)
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # fails if another writer got there first
            _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(
    path: str | Path, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Iterator[Path]:
    """A temporary folder next to ``path``, renamed to ``path`` when the block succeeds (with
    ``overwrite``, an existing ``path`` is removed just before)."""
    path = check_output(path, inputs, overwrite, folder=True)
    with _failures(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary_name(path)
        tmp.mkdir()
    try:
        with _failures(path):
            yield tmp
            if overwrite and path.exists():
                old = path.with_name(f".{path.name}.old{TMP_SUFFIX}")
                os.replace(path, old)
                remove(old)
            os.rename(tmp, path)  # fails onto a non-empty folder another writer made
            _fsync(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _failures(path: Path) -> Iterator[None]:
    """OS errors while writing ``path`` (safetensors reports them as its own error) as one
    :class:`OutputError` with the reason."""
    try:
        yield
    except FileExistsError as error:
        raise OutputError(path, "was created by another writer meanwhile; not replaced") from error
    except OSError as error:
        if error.errno == errno.ENOTEMPTY:
            raise OutputError(path, "was created by another writer meanwhile") from error
        raise OutputError(path, f"cannot write ({error.strerror or error})") from error
    except SafetensorError as error:
        raise OutputError(path, f"cannot write ({error})") from error


def utf8_name(name: str) -> str:
    """A file name as valid UTF-8, for keys and metadata inside an output: bytes that are not
    UTF-8 (a Linux file name may hold any) become ``\\xNN`` (``bad\\xff.mp4``)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _temporary_name(path: Path) -> Path:
    """``.NAME.RANDOM.tmp`` next to ``path`` (created with the usual permissions, unlike
    ``tempfile``'s private ones, since it becomes the output)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


def _occupied(path: Path) -> bool:
    """An existing file, or a folder with something in it (other than a lock file)."""
    if path.is_dir():
        return any(p.name != LOCK_NAME for p in path.iterdir())
    return path.exists()


def remove(path: Path) -> None:
    """Delete a file, a link or a folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk (no-op where a folder cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


LOCK_NAME = ".avpet.lock"


def folder_lock(folder: str | Path, waiting: str = ""):
    """:func:`file_lock` on ``folder``'s :data:`LOCK_NAME`: two runs writing one output folder
    take turns."""
    return file_lock(Path(folder) / LOCK_NAME, waiting)


@contextlib.contextmanager
def file_lock(path: str | Path, waiting: str = "") -> Iterator[None]:
    """Hold the lock file ``path`` (created if missing) for the block; a second holder waits,
    after printing ``waiting`` (if given) to stderr. An OS lock (``flock``): released when the
    process ends, however it ends. Not re-entrant: lock each file once per process."""
    path = Path(path)
    with _failures(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 (closed below)
    try:
        if not _lock(handle, block=False):
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            _lock(handle, block=True)
        yield
    finally:
        handle.close()  # closing releases the lock


def _lock(handle, block: bool) -> bool:
    """Take an exclusive lock on the open file ``handle``; ``False`` if busy and not ``block``."""
    if os.name == "nt":  # pragma: no cover (no Windows runner here)
        import msvcrt

        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not block:
                    return False
                time.sleep(0.2)
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True

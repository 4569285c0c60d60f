"""One pretraining run per folder: claimed with a lock, never silently replaced, left tidy.

:func:`claim` is entered by rank 0 before anything is written to ``train.out_dir``:

* it takes an exclusive ``flock`` on ``out_dir/.lock`` (which records the holder's pid): a second
  run on the folder is refused while the first lives, and the kernel drops the lock of a killed
  process, so a lock file left by a SIGKILL is stale and taken over;
* a fresh run (no resume) into a folder that holds anything is refused, naming ``--resume`` and
  ``--overwrite``; with ``overwrite`` the earlier run is deleted first, but only from a folder that
  looks like a run (``config.json``, ``metrics.jsonl`` or ``checkpoints/``), never any folder;
* temporaries of a write that was killed (``checkpoints/.step_*.pt.*.tmp``, ``.config.json.*.tmp``,
  ``.final.*.tmp``) are removed: with the lock held, no live writer owns them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError
from ..outputs import TMP_SUFFIX, remove

LOCK_NAME = ".lock"
RUN_MARKERS = ("config.json", "metrics.jsonl", "checkpoints")


@contextlib.contextmanager
def claim(
    out_dir: str | Path, fresh: bool, overwrite: bool = False, enabled: bool = True
) -> Iterator[Path]:
    """Hold ``out_dir`` for one run (see the module docstring); yields it as a :class:`Path`.

    ``fresh``: the run starts at step 0 (no resume). ``enabled`` is false on ranks other than 0,
    which share rank 0's claim.
    """
    out = Path(out_dir)
    if not enabled:
        yield out
        return
    if out.exists() and not out.is_dir():
        raise OutputError(out, "is a file; train.out_dir must be a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / LOCK_NAME, "a+")  # noqa: SIM115 (held for the whole run)
    except OSError as error:
        raise OutputError(out, f"cannot create the run folder ({error.strerror})") from error
    try:
        _lock(lock, out)
        if fresh:
            _refuse_or_clear(out, overwrite)
        remove_temporaries(out)
        yield out
    finally:
        lock.close()  # releases the flock; the file stays, naming the last holder


def _lock(lock, out: Path) -> None:
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        raise OutputError(
            out,
            f"in use by another run (pid {holder}); wait for it to end or choose another "
            "train.out_dir",
        ) from error
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()


def _refuse_or_clear(out: Path, overwrite: bool) -> None:
    entries = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME)
    if not entries:
        return
    if not overwrite:
        shown = ", ".join(entries[:4]) + (", …" if len(entries) > 4 else "")
        raise OutputError(
            out,
            f"holds an earlier run ({shown}); continue it with --resume, or delete it and start "
            "over with --overwrite",
        )
    if not any((out / marker).exists() for marker in RUN_MARKERS):
        raise OutputError(
            out,
            f"is not a run folder (no {', '.join(RUN_MARKERS)}), so --overwrite will not delete "
            "it; choose an empty or new train.out_dir",
        )
    for name in entries:
        remove(out / name)


def remove_temporaries(out: Path) -> list[Path]:
    """Delete the ``.*.tmp`` files and folders a killed write left in ``out`` and
    ``out/checkpoints``; returns what was removed."""
    found = [
        path
        for folder in (out, out / "checkpoints")
        if folder.is_dir()
        for path in folder.iterdir()
        if path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)
    ]
    for path in found:
        remove(path)
    return found

"""One exception hierarchy: every failure avpet raises on purpose is an :class:`AvpetError`.

Each error names the file (or model / repository) it concerns and the reason, so a message read
in a log is enough to act on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_USAGE = 2  # argparse's code for a bad command line
EXIT_ERROR = 3  # a handled AvpetError: bad input, data, config or output
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class AvpetError(Exception):
    """Base class of every error avpet raises on purpose."""


class FileError(AvpetError):
    """An error about one file or folder: ``path`` and ``reason`` (the message is both)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ConfigError(AvpetError, ValueError):
    """An invalid model, data or training configuration (unknown name, bad override, bad value)."""


class MediaError(FileError):
    """A media file cannot be used: missing, unreadable, corrupt, lacking a stream, too short."""


class CheckpointError(FileError):
    """Weights or a training checkpoint that cannot be loaded: missing, truncated, corrupt,
    a pickle where safetensors is required, or not matching the architecture."""


class OutputError(FileError):
    """An output that cannot be written: it is an input, already exists (without --overwrite),
    is a folder where a file is expected, or the disk refuses it (read-only, full)."""


class TrainingError(AvpetError):
    """Training cannot go on: a non-finite loss, gradient norm or learning rate."""


class IndexFileError(FileError):
    """A search index that cannot be read: missing, truncated, or its two files disagree."""


class HubError(AvpetError):
    """Weights that cannot be resolved: unknown repository or revision, offline cache miss."""


class DependencyError(AvpetError, ImportError):
    """An optional dependency (an extra, see :mod:`avpet.extras`) is not installed."""


def report(prog: str, error: AvpetError) -> int:
    """Print ``PROG: error: MESSAGE`` (one line, no traceback) to stderr; returns
    :data:`EXIT_ERROR`, the exit status of a command stopped by a handled error."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return EXIT_ERROR


def interrupted(prog: str) -> int:
    """Print the one line a Ctrl-C ends a command with (outputs are atomic: each finished one
    is whole, an unfinished one absent); returns :data:`EXIT_INTERRUPTED`."""
    print(f"{prog}: interrupted; finished outputs are kept, a rerun goes on", file=sys.stderr)
    return EXIT_INTERRUPTED

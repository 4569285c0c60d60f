"""One exception hierarchy: every failure avpet raises on purpose is an :class:`AvpetError`.

Each error names the file (or model / repository) it concerns and the reason, so a message read
in a log is enough to act on it.
"""

from __future__ import annotations

from pathlib import Path


class AvpetError(Exception):
    """Base class of every error avpet raises on purpose."""


class ConfigError(AvpetError, ValueError):
    """An invalid model, data or training configuration (unknown name, bad override, bad value)."""


class MediaError(AvpetError):
    """A media file cannot be used: missing, unreadable, corrupt, lacking a stream, too short."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CheckpointError(AvpetError):
    """Weights or a training checkpoint that cannot be loaded: missing, truncated, corrupt,
    a pickle where safetensors is required, or not matching the architecture."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class HubError(AvpetError):
    """Weights that cannot be resolved: unknown repository or revision, offline cache miss."""

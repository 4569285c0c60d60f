"""Training checkpoints: written atomically, the last K kept, loaded with clear errors.

A checkpoint ``step_00000100.pt`` holds everything an exact resume needs: the pretraining
module's state (backbone and heads), optimizer, scheduler, the data position (epoch and batches
consumed in it), the DataLoader generator at the start of that epoch, and the RNG states (torch,
CUDA, numpy, python) of every rank. It is written to a temporary file in the same folder,
fsync'ed, then renamed over the final name (:func:`avpet.outputs.atomic_file`), so a crash leaves
either the whole new file or none of it, and the previous checkpoints untouched; a full disk is
an :class:`~avpet.errors.OutputError`. Loading uses
``torch.load(weights_only=True)``: no code from a checkpoint runs.

Exported weights are a different thing: :func:`avpet.hub.save_pretrained` writes safetensors.
"""

from __future__ import annotations

import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from ..errors import CheckpointError
from ..outputs import atomic_file

_NAME = re.compile(r"^step_(\d{8})\.pt$")
REQUIRED = ("step", "model", "optimizer", "scheduler", "data", "rng", "world_size")


def checkpoint_path(directory: str | Path, step: int) -> Path:
    return Path(directory) / f"step_{step:08d}.pt"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Finished checkpoints in ``directory``, oldest first (temporary files are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _NAME.match(p.name))


def save_checkpoint(state: dict[str, Any], directory: str | Path, keep_last: int) -> Path:
    """Write ``state`` (must hold ``state["step"]``) atomically and keep the newest ``keep_last``.

    Returns the path written.
    """
    path = checkpoint_path(directory, state["step"])
    with atomic_file(path, overwrite=True) as tmp, open(tmp, "wb") as handle:
        writer = _KeepWriteError(handle)
        try:
            torch.save(state, writer)
        except RuntimeError as error:  # torch reports a full disk as "unexpected pos ..."
            if writer.error is None:
                raise
            raise writer.error from error
    for old in list_checkpoints(directory)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


class _KeepWriteError:
    """A binary file that remembers the ``OSError`` of a failed write, which ``torch.save``
    would otherwise turn into a RuntimeError without the reason."""

    def __init__(self, handle: BinaryIO):
        self.handle, self.error = handle, None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors mapped to CPU).

    Raises:
        CheckpointError: the file is missing, truncated, corrupt, or lacks a required entry.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            path, f"corrupt or truncated checkpoint ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(state, dict):
        raise CheckpointError(path, "not a training checkpoint (no state dictionary)")
    missing = [key for key in REQUIRED if key not in state]
    if missing:
        raise CheckpointError(path, f"not a training checkpoint: missing {missing}")
    return state


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest finished checkpoint in ``directory``, or ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def capture_rng() -> dict[str, Any]:
    """This process's RNG states (torch CPU and CUDA, numpy, python) as plain data."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(_as_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    """``random.setstate`` wants tuples where a round trip may have left lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list | tuple) else value

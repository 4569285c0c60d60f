"""Training metrics on rank 0: a JSONL file (one object per logged step) and TensorBoard.

On resume from step ``s`` the JSONL keeps only records up to ``s`` (steps after it are run again)
and TensorBoard purges its events after ``s``, so both read as one uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError, OutputError
from ..outputs import atomic_file


class MetricsLog:
    """Append ``{"step": ..., **metrics}`` lines to ``out_dir/metrics.jsonl`` and scalars to
    ``out_dir/tensorboard``; does nothing where ``enabled`` is false (ranks other than 0)."""

    def __init__(self, out_dir: str | Path, start_step: int, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(out_dir) / "metrics.jsonl"
        self.writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_after(self.path, start_step)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(
            str(Path(out_dir) / "tensorboard"), purge_step=start_step + 1 if start_step else None
        )

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        try:
            with self.path.open("a") as handle:
                handle.write(json.dumps({"step": step, **metrics}) + "\n")
        except OSError as error:
            raise OutputError(self.path, f"cannot write ({error.strerror or error})") from error
        for key, value in metrics.items():
            self.writer.add_scalar(f"pretrain/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(path: str | Path, cut_short_ok: bool = False) -> list[dict]:
    """The records of a ``metrics.jsonl`` file, in order: one object with an integer ``step``
    per line. Raises :class:`ConfigError` naming the file (and line) if it is unreadable or a
    line is not such an object; with ``cut_short_ok`` a last line without its newline that is not
    JSON (a write cut short by a killed run) is dropped instead."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read metrics ({error.strerror})") from error
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            if cut_short_ok and number == len(lines) and not text.endswith("\n"):
                break
            reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
            raise ConfigError(f"{path}: line {number} is not JSON ({reason})") from error
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise ConfigError(f"{path}: line {number} is not an object with an integer 'step'")
        records.append(record)
    return records


def _truncate_after(path: Path, step: int) -> None:
    """Drop records of steps after ``step`` (atomically); a fresh run (step 0) starts empty."""
    records = read_metrics(path, cut_short_ok=True) if path.exists() else []
    kept = [r for r in records if r["step"] <= step]
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))

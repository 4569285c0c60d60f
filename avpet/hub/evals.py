"""Results that ``avpet eval ... --json`` printed, read back for a model card.

A saved output's last line is one JSON object (``task``, ``model``, ``pretrained``, the metrics,
``machine``...); its float entries become the card's metrics, keyed ``task/metric``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError

NOT_METRICS = {"seconds", "seed"}
# task -> (what it measures, dataset name) on the card
TASKS = {
    "grid": ("frozen-feature probes", "GRID"),
    "fsdd": ("frozen-feature probes", "FSDD"),
    "sync": ("audio-visual offset detection", "GRID"),
}
# a metric name containing the key -> its model-index type; other metrics (timings) stay off it
METRIC_TYPES = {"auroc": "roc_auc", "acc": "accuracy", "_r1": "recall", "_r5": "recall"}


def read_eval_json(path: str | Path) -> tuple[dict[str, float], str, dict]:
    """``(metrics, source, result)`` of one saved ``avpet eval --json`` output: the float metrics
    as ``{"task/name": value}``, the command that printed them (with the machine), the object."""
    path = Path(path)
    try:
        lines = path.read_text().strip().splitlines()
        result = json.loads(lines[-1]) if lines else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not the saved output of avpet eval --json ({error})") from error
    if not isinstance(result, dict) or not {"task", "model", "pretrained"} <= set(result):
        raise ConfigError(f"{path}: not the saved output of avpet eval --json")
    task = result["task"]
    metrics = {
        f"{task}/{k}": float(v)
        for k, v in result.items()
        if isinstance(v, float) and k not in NOT_METRICS
    }
    source = (
        f"avpet eval {task} --model {result['model']} --pretrained {result['pretrained']} "
        f"--level {result.get('level', 'auto')} --seed {result.get('seed', 0)} "
        f"({result.get('machine', 'machine not recorded')}"
        f"{chosen_levels(result.get('selected', {}))})"
    )
    return metrics, source, result


def chosen_levels(selected: dict[str, str]) -> str:
    """``--level select``'s choices, grouped by level: ``"; levels chosen on the training split:
    cnn for a, b; tokens for retrieval"``, or nothing without a selection."""
    by_level: dict[str, list[str]] = {}
    for key, level in selected.items():
        by_level.setdefault(level, []).append(key)
    groups = "; ".join(f"{level} for {', '.join(keys)}" for level, keys in by_level.items())
    return f"; levels chosen on the training split: {groups}" if groups else ""

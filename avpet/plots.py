"""``avpet plot-metrics``: a pretraining run's loss curves (``metrics.jsonl``) as a PNG.

matplotlib is optional (``pip install "avpet[plot]"``) and imported only when a plot is drawn.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError
from .extras import require
from .outputs import atomic_file
from .pretrain.metrics import read_metrics

DEFAULT_KEYS = ("loss", "mep", "cpp")


def read_curves(path: str | Path, keys: Sequence[str] = DEFAULT_KEYS) -> dict[str, list]:
    """``{"step": [...], key: [...]}`` from a ``metrics.jsonl`` (or the run folder holding it).

    Keys absent from every record are left out; a key missing from some records gets ``nan``
    there. Raises :class:`ConfigError` naming the file for a missing, empty or corrupt file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    records = read_metrics(path)
    if not records:
        raise ConfigError(f"{path}: no metrics records (is the run's first log step reached?)")
    present = [k for k in keys if any(k in r for r in records)]
    if not present:
        raise ConfigError(f"{path}: none of {list(keys)} is logged (keys: {sorted(records[0])})")
    curves = {"step": [r["step"] for r in records]}
    for key in present:
        curves[key] = [_number(path, r, key) for r in records]
    return curves


def _number(path: Path, record: dict, key: str) -> float:
    """``record[key]`` as a float (``nan`` where absent); ConfigError for a non-number."""
    value = record.get(key, float("nan"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path}: step {record['step']}: {key} is {value!r}, not a number")
    return float(value)


def plot_curves(
    curves: dict[str, list],
    out: str | Path,
    title: str = "",
    log_y: bool = False,
    overwrite: bool = False,
    inputs: Sequence[str | Path] = (),
) -> Path:
    """Draw ``curves`` (from :func:`read_curves`) against step and write a PNG to ``out``
    (atomically; never over one of ``inputs``, nor an existing file unless ``overwrite``)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, values in curves.items():
        if key != "step":
            ax.plot(curves["step"], values, marker="." if len(values) < 50 else None, label=key)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    with atomic_file(out, overwrite, inputs) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return Path(out)


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (the ``plot`` extra)."""
    require("plot", "plotting")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet plot-metrics``."""
    parser.add_argument(
        "metrics", type=Path, help="a run's metrics.jsonl, or the run folder that holds it"
    )
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument(
        "--keys",
        nargs="+",
        default=list(DEFAULT_KEYS),
        help=f"logged values to draw (default: {' '.join(DEFAULT_KEYS)})",
    )
    parser.add_argument("--log-y", action="store_true", help="logarithmic loss axis")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(args: argparse.Namespace) -> int:
    """``avpet plot-metrics METRICS --out PNG``."""
    curves = read_curves(args.metrics, args.keys)
    out = plot_curves(
        curves, args.out, str(args.metrics), args.log_y, args.overwrite, [args.metrics]
    )
    print(
        f"wrote {out} ({len(curves['step'])} steps: {', '.join(k for k in curves if k != 'step')})"
    )
    return 0

"""``avpet sync --plot``: each video's score against offset, its estimate marked (PNG)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..outputs import atomic_file
from ..plots import pyplot
from .scorer import SyncResult

MAX_LEGEND = 10


def plot_scores(
    results: Sequence[SyncResult], out: Path, overwrite: bool = False, inputs: Iterable = ()
) -> Path:
    """Draw every result's curve (offset in frames on x, score on y) into ``out``."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    for result in results:
        label = f"{Path(result.path).name}: {result.offset_frames:+d}"
        (line,) = axes.plot(result.offsets, result.scores, label=label)
        axes.axvline(result.offset_frames, color=line.get_color(), linestyle=":", linewidth=1)
    axes.axvline(0, color="grey", linewidth=0.5)
    axes.set_xlabel("offset (frames; positive: the sound comes after the picture)")
    axes.set_ylabel("audio-visual similarity")
    if len(results) <= MAX_LEGEND:
        axes.legend(fontsize="small")
    figure.tight_layout()
    with atomic_file(out, overwrite, inputs) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return out

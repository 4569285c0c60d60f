"""``avpet search --plot``: the top results as a strip of frames with their times (PNG)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..data.clips import frame_index
from ..data.io import open_media
from ..outputs import atomic_file
from .index import Hit


def plot_hits(
    hits: list[Hit], path: str | Path, overwrite: bool = False, inputs: Iterable = ()
) -> Path:
    """One column per hit: the frame in the middle of its span, titled with rank, score, times
    and the file name, written atomically (never over one of ``inputs``, nor an existing file
    unless ``overwrite``). Needs matplotlib (``avpet[plot]``, checked by the command first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, max(len(hits), 1), figsize=(3 * max(len(hits), 1), 3.2))
    for rank, (axis, hit) in enumerate(zip(list(figure.axes), hits, strict=False), start=1):
        axis.imshow(middle_frame(hit))
        axis.set_title(
            f"{rank}. {hit.score:.2f}  {hit.start:.1f}-{hit.end:.1f} s\n{Path(hit.video).name}",
            fontsize=8,
        )
        axis.axis("off")
    for axis in figure.axes[len(hits) :]:
        axis.axis("off")
    figure.tight_layout()
    with atomic_file(path, overwrite, inputs) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
    return Path(path)


def middle_frame(hit: Hit):
    """The RGB frame ``[H, W, 3]`` on screen in the middle of ``hit``'s span."""
    with open_media(hit.video) as reader:
        middle = frame_index(reader.info.frame_times, [(hit.start + hit.end) / 2])
        return reader.frames(middle.tolist())[0].numpy()

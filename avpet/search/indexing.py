"""``avpet index``: embed a collection of videos into a :class:`~avpet.search.index.ClipIndex`.

:func:`update_index` embeds every new or changed file of ``paths`` with
:func:`avpet.extract_features` (clips over each whole file, their starts half a clip apart by
default, at the model's ``joint_level``) and adds them to the index; files already in it and
unchanged (same size and modification time) are not decoded again, so adding videos to a folder
and rerunning embeds only the new ones.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cli import add_pretrained_argument, add_roi_argument, add_threads_argument, parse_roi
from ..data.config import resolve_data_config
from ..data.sources import find_media
from ..data.stream import Coverage
from ..errors import ConfigError, MediaError
from ..factory import create_model
from ..features import extract_features
from ..hub.sources import weights_request
from .index import MODALITIES, ClipIndex


@dataclass(frozen=True)
class IndexReport:
    """What one :func:`update_index` did: files embedded, files unchanged, files skipped."""

    added: list[str]
    unchanged: list[str]
    skipped: list[str]


def update_index(
    folder: str | Path,
    paths: list[str | Path],
    model_name: str,
    pretrained: bool | str = False,
    roi: tuple[int, int, int, int] | str = "auto",
    stride: float | None = None,
    **options,
) -> IndexReport:
    """Create or extend the index at ``folder`` with the media files ``paths`` point at (see
    :func:`avpet.data.sources.find_media`); ``stride``: seconds between clip starts (default
    half the model's clip); ``options``: :class:`avpet.features.ExtractCfg` fields but
    ``coverage``. The index records the model, its weights, the crop and the stride, so every
    later call and every query embeds the same way (another is a :class:`ConfigError`).
    Unreadable files are skipped (``avpet extract`` on them says why)."""
    folder = Path(folder)
    if stride is not None and stride <= 0:
        raise ConfigError(f"--clip-stride must be positive, got {stride}")
    roi = list(roi) if isinstance(roi, tuple) else roi  # as index.json records it
    if (folder / "index.json").exists():
        index = ClipIndex.load(folder)
        built = (index.model, index.pretrained, index.roi, stride or index.stride)
        if built != (model_name, pretrained, roi, index.stride):
            raise ConfigError(
                f"{folder} holds {index.model} (weights {index.pretrained}, roi {index.roi}, "
                f"stride {index.stride} s); build another index for {model_name} (weights "
                f"{pretrained}, roi {roi}, stride {stride} s)"
            )
        model = embedding_model(index)
    else:
        model = create_model(model_name, pretrained=pretrained).eval()
        if model.joint_level is None:
            raise ConfigError(f"{model_name} has no level where visual and audio share a space")
        dim = model.feature_level(model.joint_level).dims["visual"]
        stride = stride or resolve_data_config(model).input.clip_seconds / 2
        index = ClipIndex(model_name, model.joint_level, dim, pretrained, roi, stride)
    sources = [source.path for source in find_media(paths)]
    stamps = {path: _stamp(path) for path in sources}
    unchanged = [p for p in sources if index.stamps.get(p) == stamps[p]]
    todo = [p for p in sources if p not in unchanged]
    added: list[str] = []
    if todo:
        coverage = Coverage(stride=index.stride)
        for record in extract_features(
            todo, model, roi=index.crop, coverage=coverage, on_error="skip", **options
        ):
            embeddings = {
                m: record.features[f"{m}_{index.level}"].float().numpy() for m in MODALITIES
            }
            ends = record.end.numpy()
            if record.duration and record.duration > 0:  # the last clip may pad past the end
                ends = np.minimum(ends, record.duration)
            index.add(
                record.path,
                record.start.numpy(),
                ends,
                embeddings,
                stamps[record.path],
            )
            added.append(record.path)
        index.save(folder)
    return IndexReport(added, unchanged, [p for p in todo if p not in added])


def embedding_model(index: ClipIndex):
    """The model (with the weights) that embedded ``index``'s clips, in eval mode."""
    return create_model(index.model, pretrained=index.pretrained).eval()


def _stamp(path: str) -> list[float]:
    """Size and modification time of ``path``: a file whose stamp changed is embedded again."""
    try:
        stat = os.stat(path)
    except OSError as error:
        raise MediaError(path, f"cannot read ({error.strerror})") from error
    return [float(stat.st_size), stat.st_mtime]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet index``."""
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="videos, folders, globs, manifests"
    )
    parser.add_argument("--model", required=True, help="NAME or NAME.TAG (needs a joint space)")
    add_pretrained_argument(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="INDEX", help="index folder")
    add_roi_argument(parser)
    parser.add_argument(
        "--clip-stride",
        type=float,
        metavar="SECONDS",
        help="seconds between clip starts (default: half the model's clip, so clips overlap)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="clips per model call")
    add_threads_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")


def run(args: argparse.Namespace) -> int:
    """``avpet index PATH... --model NAME --out INDEX``."""
    roi, swallowed = parse_roi(args.roi)
    pretrained = weights_request(args.model, args.pretrained)  # NAME.TAG: its own weights
    report = update_index(
        args.out, swallowed + args.paths, args.model, pretrained, roi, args.clip_stride,
        batch_size=args.batch_size, threads=args.threads,
    )  # fmt: skip
    summary = {
        "index": str(args.out),
        "added": len(report.added),
        "unchanged": len(report.unchanged),
        "skipped": report.skipped,
    }
    print(json.dumps(summary) if args.json else f"{args.out}: {summary}")
    return 0

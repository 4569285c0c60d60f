"""``avpet index``: embed a collection of videos into a :class:`~avpet.search.index.ClipIndex`.

:func:`update_index` embeds every new or changed file of ``paths`` with
:func:`avpet.extract_features` (clips over each whole file, their starts half a clip apart by
default, at the model's ``joint_level``) and adds them to the index; files already in it and
unchanged (same size and modification time) are not decoded again, so adding videos to a folder
and rerunning embeds only the new ones. Under ``torchrun`` each rank embeds every
``WORLD_SIZE``-th new file and rank 0 adds them all and writes the index.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ranks
from ..arguments import (
    add_overwrite_argument,
    add_pretrained_argument,
    add_roi_argument,
    add_threads_argument,
    parse_roi,
    warn_if_random,
)
from ..data.config import resolve_data_config
from ..data.sources import find_media
from ..data.stream import Coverage
from ..errors import ConfigError, MediaError
from ..factory import create_model
from ..features import VideoFeatures, extract_features
from ..hub.sources import parse_source, weights_request
from ..outputs import check_output, folder_lock
from .index import MODALITIES, ClipIndex


@dataclass(frozen=True)
class IndexReport:
    """What one :func:`update_index` did: files embedded, files unchanged, files skipped."""

    added: list[str]
    unchanged: list[str]
    skipped: dict[str, str]  # path -> why


def update_index(
    folder: str | Path,
    paths: list[str | Path],
    model_name: str,
    pretrained: bool | str = False,
    roi: tuple[int, int, int, int] | str = "auto",
    stride: float | None = None,
    overwrite: bool = False,
    **options,
) -> IndexReport:
    """Create or extend the index at ``folder`` with the media files ``paths`` point at (see
    :func:`avpet.data.sources.find_media`); ``stride``: seconds between clip starts (default
    half the model's clip); ``overwrite``: start a new index over an existing one; ``options``:
    :class:`avpet.features.ExtractCfg` fields but ``coverage``.

    The index records the model, its weights (a local folder or file as an absolute path, so it
    is found from any directory), the crop and the stride, so every later call and every query
    embeds the same way: an update that leaves ``roi`` at ``"auto"`` or ``stride`` at ``None``
    takes the recorded ones, and one that names others is a :class:`ConfigError`. Two updates of
    one folder at once take turns (:func:`avpet.outputs.folder_lock`); the second embeds only
    what the first did not. Unreadable files are skipped, each with its reason. Under torchrun
    each rank embeds its share of the files and rank 0, holding the lock, writes the index and
    reports every rank's files (the other ranks report none)."""
    folder = Path(folder)
    if stride is not None and stride <= 0:
        raise ConfigError(f"--clip-stride must be positive, got {stride}")
    check_index_output(folder, paths, overwrite)
    pretrained = portable_source(pretrained)
    roi = list(roi) if isinstance(roi, tuple) else roi  # as index.json records it
    sources = [source.path for source in find_media(paths)]
    where = ranks.from_env()
    waiting = f"avpet index: another run is updating {folder}; waiting for it to finish"
    with folder_lock(folder, waiting) if where.is_main else contextlib.nullcontext():
        ranks.barrier()  # every rank reads the index once rank 0 holds the folder
        if (folder / "index.json").exists() and not overwrite:
            index = ClipIndex.load(folder)
            roi = index.roi if roi == "auto" else roi
            given = (model_name, pretrained, roi, stride or index.stride)
            if given != (index.model, portable_source(index.pretrained), index.roi, index.stride):
                raise ConfigError(
                    f"{folder} holds {index.model} (weights {index.pretrained}, roi {index.roi}, "
                    f"stride {index.stride} s), not {model_name} (weights {pretrained}, roi "
                    f"{roi}, stride {stride or index.stride} s); build another index for those"
                )
            model = embedding_model(index)
        else:
            model = create_model(model_name, pretrained=pretrained).eval()
            if model.joint_level is None:
                raise ConfigError(f"{model_name} has no level where visual and audio share a space")
            dim = model.feature_level(model.joint_level).dims["visual"]
            stride = stride or resolve_data_config(model).input.clip_seconds / 2
            index = ClipIndex(model_name, model.joint_level, dim, pretrained, roi, stride)
        stamps = {path: _stamp(path) for path in sources}
        unchanged = [p for p in sources if index.stamps.get(p) == stamps[p]]
        todo = [p for p in sources if p not in unchanged]
        added: list[str] = []
        skipped: dict[str, str] = {}
        if todo:
            mine = todo[where.rank :: where.world]
            errors: list[MediaError] = []
            coverage = Coverage(stride=index.stride)
            found = (
                extract_features(
                    mine, model, roi=index.crop, coverage=coverage, skipped=errors, **options
                )
                if mine  # a rank with no file to embed still takes part in the gather
                else []
            )
            records = [(r.path, r.start.numpy(), _ends(r), _embeddings(r, index)) for r in found]
            shares = ranks.gather_to_main((records, {e.path: e.reason for e in errors}))
            for share_records, share_skipped in shares:
                for path, start, end, embeddings in share_records:
                    index.add(path, start, end, embeddings, stamps[path])
                    added.append(path)
                skipped.update(share_skipped)
            if where.is_main:
                index.save(folder)
            ranks.barrier()
    return IndexReport(added, unchanged, skipped)


def check_index_output(folder: Path, inputs: list[str | Path], overwrite: bool) -> None:
    """Before any work: ``folder`` is an index to update, or a new or empty folder (or, with
    ``overwrite``, anything but a file or an input)."""
    check_output(folder, inputs, overwrite=True, folder=True)
    if not overwrite and not (folder / "index.json").exists():
        check_output(folder, inputs, folder=True)  # an occupied folder that is no index


def portable_source(pretrained: bool | str) -> bool | str:
    """A weights source as an index records it: a local folder or file as an absolute path
    (``local-dir:hub/x`` → ``local-dir:/abs/hub/x``), so it means the same from any directory
    and equal sources compare equal; Hub sources and ``True`` (a tag's own) as given."""
    if not isinstance(pretrained, str):
        return pretrained
    source = parse_source(pretrained)
    if source.kind == "hf-hub" or not Path(source.location).expanduser().exists():
        return pretrained
    resolved = Path(source.location).expanduser().resolve()
    return str(resolved) if source.kind == "file" else f"{source.kind}:{resolved}"


def _ends(record: VideoFeatures) -> np.ndarray:
    """Clip ends, the last one at most the file's duration (its clip is padded past the end)."""
    ends = record.end.numpy()
    return np.minimum(ends, record.duration) if record.duration and record.duration > 0 else ends


def _embeddings(record: VideoFeatures, index: ClipIndex) -> dict[str, np.ndarray]:
    return {m: record.features[f"{m}_{index.level}"].float().numpy() for m in MODALITIES}


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
    add_overwrite_argument(parser, "an existing index (start a new one)")
    add_threads_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")


def run(args: argparse.Namespace) -> int:
    """``avpet index PATH... --model NAME --out INDEX``."""
    roi, swallowed = parse_roi(args.roi)
    pretrained = weights_request(args.model, args.pretrained)  # NAME.TAG: its own weights
    warn_if_random("index", args.model, pretrained)
    with ranks.process_group(ranks.from_env()) as where:
        report = update_index(
            args.out, swallowed + args.paths, args.model, pretrained, roi, args.clip_stride,
            args.overwrite, batch_size=args.batch_size, threads=args.threads,
        )  # fmt: skip
    if not where.is_main:
        return 0
    for path, reason in report.skipped.items():
        print(f"avpet index: skipped {path}: {reason}", file=sys.stderr)
    if args.json:
        counts = {"added": len(report.added), "unchanged": len(report.unchanged)}
        print(json.dumps({"index": str(args.out), **counts, "skipped": report.skipped}))
    else:
        print(
            f"{args.out}: {len(report.added)} video(s) added, {len(report.unchanged)} unchanged, "
            f"{len(report.skipped)} skipped"
        )
    return 0

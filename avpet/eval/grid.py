"""GRID word probes and audio-video retrieval with a frozen model (docs/evaluation.md).

Each clip is one sentence of six words (:mod:`avpet.data.grid`). One sequence of ``T`` clips is read
per sentence: clip k is centred on word ``first + k``, for the ``T`` consecutive words around
color..digit (``T = 4``: color, prep, letter, digit). A word's feature is its own clip's feature
at the chosen level, so the Transformer levels see the word in the context of its neighbours.
A peer (VATT, MMV) encodes each clip alone, so it reads the ``PROBE_CLIPS`` = 4 clips
color..digit whatever its own ``num_clips`` (:func:`create_eval_transform`). Retrieval compares
the visual-only and the audio-only sequences clip by clip at the same level
(:func:`retrieval_embedding`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..arguments import add_overwrite_argument, add_roi_box_argument, parse_roi_box
from ..data.cache import ClipCache
from ..data.config import resolve_data_config
from ..data.grid import (
    PROBE_CLIPS,
    PROBED,
    SLOTS,
    GridClip,
    find_clips,
    read_sequence,
    split_clips,
    subset,
    word_slots,
)
from ..data.transforms import ClipTransform, create_transform
from ..errors import ConfigError
from ..outputs import check_output
from .baselines import HandcraftedCfg, grid_features
from .features import Progress, check_level, load_model, modality_levels
from .probe import ProbeCfg, ProbeScore, probe_accuracy
from .retrieval import plot_similarity, retrieval_metrics, similarity
from .selection import probe_levels, select_retrieval_level


def create_eval_transform(model: nn.Module, **overrides) -> ClipTransform:
    """The evaluation transform of ``model`` (``overrides``: fields of
    :func:`~avpet.data.config.resolve_data_config`). A peer encodes each clip alone, so its
    sequences hold the ``PROBE_CLIPS`` word clips color..digit whatever its ``num_clips``."""
    cfg = resolve_data_config(model, **overrides)
    if model.clips_alone:
        cfg = resolve_data_config(cfg, num_clips=PROBE_CLIPS)
    return create_transform(cfg)


def extract(
    model: nn.Module,
    clips: Sequence[GridClip],
    transform: ClipTransform,
    batch_size: int = 16,
    cache: Path | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Frozen features of ``clips``: ``{modality: {level: array}}`` with clip levels
    ``[N, T, C]`` (position k = word ``word_slots(T)[k]``) and ``bos`` ``[N, D]``.

    ``cache``: a folder where decoded inputs are kept (:class:`~avpet.data.cache.ClipCache`,
    under a subfolder for ``transform.cfg``): read if there, else decoded and written.
    """
    store = ClipCache(cache, transform.cfg) if cache else None
    progress = Progress("grid features", len(clips))
    parts: dict[str, dict[str, list]] = {"visual": {}, "audio": {}}
    for begin in range(0, len(clips), batch_size):
        batch = clips[begin : begin + batch_size]
        samples = [_decoded(c, transform, store) for c in batch]
        for modality in parts:
            x = torch.stack([s[modality] for s in samples])
            for level, value in modality_levels(model, modality, x).items():
                parts[modality].setdefault(level, []).append(value.float().numpy())
        progress.update(begin + len(batch))
    return {m: {lvl: np.concatenate(v) for lvl, v in d.items()} for m, d in parts.items()}


def _decoded(
    clip: GridClip, transform: ClipTransform, cache: ClipCache | None
) -> dict[str, torch.Tensor]:
    decode = partial(read_sequence, clip, transform)
    return cache.get(clip.id, decode) if cache else decode()


def retrieval_embedding(levels: dict[str, np.ndarray], level: str) -> torch.Tensor:
    """What retrieval compares for one modality: at a clip level, every clip's feature centred on
    its position's mean over the set and L2-normalised, concatenated ``[N, T·C]`` (so the cosine
    of two sequences is the mean cosine of their clips); at ``bos``, the BOS summary ``[N, D]``."""
    x = torch.from_numpy(levels[level]).double()
    if x.dim() == 2:  # a sequence level
        return x
    x = x - x.mean(0)
    return (x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)).flatten(1)


def word_table(
    feats: dict[str, dict[str, np.ndarray]], level: str, num_clips: int
) -> dict[str, dict[str, np.ndarray]]:
    """``{modality: {slot: [N, C]}}`` at ``level`` from :func:`extract` output: a clip level's
    feature at the word's own clip, or the sequence's ``bos`` for every word."""
    slots = word_slots(num_clips)
    return {
        modality: {
            slot: levels[level][:, slots.index(SLOTS.index(slot))]
            if levels[level].ndim == 3
            else levels[level]
            for slot in PROBED
        }
        for modality, levels in feats.items()
    }


def probe_words(
    train: dict[str, dict[str, np.ndarray]],
    test: dict[str, dict[str, np.ndarray]],
    train_clips: Sequence[GridClip],
    test_clips: Sequence[GridClip],
    probe: ProbeCfg,
    fit: Callable[..., float | ProbeScore] = probe_accuracy,
) -> dict[str, float | ProbeScore]:
    """``{"{modality}_{slot}_acc": accuracy}`` of probes fitted on ``train`` features of
    ``train_clips`` and scored on ``test`` features of ``test_clips`` (``{modality: {slot:
    [N, C]}}`` each)."""
    return {
        f"{modality}_{slot}_acc": fit(
            train[modality][slot],
            [c.label(slot) for c in train_clips],
            test[modality][slot],
            [c.label(slot) for c in test_clips],
            probe,
        )
        for modality in ("visual", "audio")
        for slot in PROBED
        if modality in train
    }


def evaluate(
    model: nn.Module,
    train_clips: Sequence[GridClip],
    test_clips: Sequence[GridClip],
    transform: ClipTransform,
    level: str,
    probe: ProbeCfg,
    all_levels: bool = False,
    batch_size: int = 16,
    cache: Path | None = None,
) -> tuple[dict, torch.Tensor]:
    """The GRID metrics of a frozen ``model`` and the test audio→video similarity ``[N, N]``.

    ``transform``: :func:`create_eval_transform` of ``model`` (sequences of ``num_clips`` word
    clips). Headline ``{modality}_{slot}_acc`` and retrieval at ``level``, or with ``level =
    "select"`` at the levels chosen on the training split (:mod:`avpet.eval.selection`, reported
    under ``"selected"``); with ``all_levels`` (and ``"select"``) every level the model computes
    is probed, under ``"levels"``. ``cache``: see :func:`extract`.
    """
    if set(c.id for c in train_clips) & set(c.id for c in test_clips):
        raise ConfigError("the training and test clips overlap")
    num_clips = transform.cfg.input.num_clips
    train = extract(model, train_clips, transform, batch_size, cache)
    test = extract(model, test_clips, transform, batch_size, cache)
    probes = probe_levels(
        model,
        level,
        all_levels,
        lambda lvl, fit: probe_words(
            word_table(train, lvl, num_clips),
            word_table(test, lvl, num_clips),
            train_clips,
            test_clips,
            probe,
            fit=fit,
        ),
    )
    retrieval_level = level
    if probes.chosen is not None:
        probes.chosen["retrieval"] = retrieval_level = select_retrieval_level(
            model, lambda lvl: retrieval_metrics(*paired_embeddings(train, lvl))["a2v_r1"]
        )
    audio, visual = paired_embeddings(test, retrieval_level)
    metrics = {
        **probes.headline,
        **retrieval_metrics(audio, visual),
        "chance": chance(train_clips, len(test_clips)),
        "level": level,
        "n_train": len(train_clips),
        "n_test": len(test_clips),
    }
    if probes.chosen is not None:
        metrics["selected"] = probes.chosen
    if all_levels or probes.chosen is not None:
        metrics["levels"] = probes.per_level
    return metrics, similarity(audio, visual)


def paired_embeddings(
    feats: dict[str, dict[str, np.ndarray]], level: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The audio and visual :func:`retrieval_embedding` of :func:`extract` output at ``level``."""
    return retrieval_embedding(feats["audio"], level), retrieval_embedding(feats["visual"], level)


def chance(train_clips: Sequence[GridClip], n_test: int) -> dict[str, float]:
    """Uniform chance: 1 / (classes in the training split) per slot, 1/N and 5/N retrieval."""
    out = {}
    for slot in PROBED:
        labels = [c.label(slot) for c in train_clips]
        out[f"{slot}_acc"] = 1 / len(set(labels)) if labels else math.nan
    out.update({"r1": 1 / n_test, "r5": min(5 / n_test, 1.0)})
    return out


HELP = "GRID word probes and audio-video retrieval"
PROBES = True  # takes --level, --all-levels, --probe-c


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``avpet eval grid``'s own arguments (the common ones: :mod:`avpet.eval.cli`)."""
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--train", type=Path, help="folder of training .mp4 clips (needs --test)")
    data.add_argument(
        "--data", type=Path, help="a GRID speaker folder (video/, align/), split by --split"
    )
    parser.add_argument("--test", type=Path, help="folder of test .mp4 clips")
    parser.add_argument(
        "--split", type=float, default=0.8, help="training fraction with --data (default 0.8)"
    )
    parser.add_argument(
        "--align", type=Path, help="folder of .align files (default: ../align of each clip folder)"
    )
    parser.add_argument(
        "--limit", type=int, help="use N clips of each split (a fixed pseudo-random pick)"
    )
    add_roi_box_argument(parser, "use the pretraining's crop")
    parser.add_argument(
        "--backend",
        choices=("pyav", "decord", "auto"),
        default="pyav",
        help="video decoder: pyav (the default: fastest for reading a few clips per file), "
        "decord, or auto (decord, PyAV where decord fails)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="write the test audio-video similarity matrix to this PNG file",
    )
    add_overwrite_argument(parser, "an existing --plot file")
    parser.add_argument(
        "--cache",
        type=Path,
        help="keep decoded clips here for the next model with the same input spec and crop",
    )


def run(args: argparse.Namespace, probe: ProbeCfg) -> dict:
    """The metrics of ``avpet eval grid``: a model's (:func:`evaluate`) or, with ``--baseline``,
    the handcrafted features' word probes."""
    if args.plot is not None:  # before any work
        check_output(args.plot, overwrite=args.overwrite)
    train, test = _splits(args)
    if args.baseline:
        cfg = HandcraftedCfg()
        return {
            **probe_words(grid_features(train, cfg), grid_features(test, cfg), train, test, probe),
            "n_train": len(train),
            "n_test": len(test),
        }
    model = load_model(args.model, args.pretrained, args.seed)
    crop = {"roi": parse_roi_box(args.roi)} if args.roi else {}  # else the crop the weights expect
    transform = create_eval_transform(model, backend=args.backend, **crop)
    metrics, scores = evaluate(
        model,
        train,
        test,
        transform,
        check_level(model, args.level),
        probe,
        args.all_levels,
        args.batch_size,
        args.cache,
    )
    if args.plot is not None:
        plot_similarity(scores, args.plot, args.overwrite)
    return metrics


def _splits(args: argparse.Namespace) -> tuple[list[GridClip], list[GridClip]]:
    """The training and test clips ``--train``/``--test`` or ``--data``/``--split`` name."""
    if args.train is not None:
        if args.test is None:
            raise ConfigError("--train needs --test (or use --data DIR --split FRACTION)")
        train, test = find_clips(args.train, args.align), find_clips(args.test, args.align)
    else:
        if args.test is not None:
            raise ConfigError("--test goes with --train, not with --data")
        clips = find_clips(args.data / "video", args.align or args.data / "align")
        train, test = split_clips(clips, args.split)
    if args.limit is not None:
        train, test = subset(train, args.limit), subset(test, args.limit)
    return train, test

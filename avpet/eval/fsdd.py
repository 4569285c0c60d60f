"""FSDD spoken digits with a frozen audio encoder, leave-one-speaker-out (docs/evaluation.md).

Each recording (:mod:`avpet.data.fsdd`) is resampled to the model's rate and cut into
``n = ceil(duration / clip_seconds)`` consecutive clips (at most ``num_clips`` for AVBERT; a peer,
VATT or MMV, encodes each clip alone and takes them all) centred on the recording, zero-padded at
both ends (most recordings are one clip of the small models), then given the model's audio front
end (log-mel, or the waveform itself for VATT). A recording's feature at a clip level is the mean
over its clips; ``bos`` is the sequence summary.
For each speaker a probe is fitted on the five others and scored on that speaker.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.config import resolve_data_config
from ..data.fsdd import Recording, centred_clips, find_recordings, read_waveform
from ..data.transforms import create_transform
from .baselines import HandcraftedCfg, fsdd_features
from .features import Progress, check_level, load_model, modality_levels
from .probe import ProbeCfg, ProbeScore, probe_accuracy
from .selection import probe_levels


def extract(
    model: nn.Module, recordings: Sequence[Recording], batch_size: int = 32
) -> dict[str, np.ndarray]:
    """Frozen audio features per recording: ``{level: [N, C]}`` (clip levels averaged)."""
    transform = create_transform(resolve_data_config(model))
    spec = transform.cfg.input
    max_clips = None if model.clips_alone else spec.num_clips
    inputs = [
        transform.audio(
            centred_clips(read_waveform(r.path, spec.sample_rate), spec.clip_samples, max_clips)
        )
        for r in recordings
    ]
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    rows: dict[str, list] = {}
    progress = Progress("fsdd features", len(inputs))
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
        # one forward per clip count, so no sequence is padded with extra clips
        for count in sorted({len(inputs[i]) for i in chunk}):
            group = [i for i in chunk if len(inputs[i]) == count]
            levels = modality_levels(model, "audio", torch.stack([inputs[i] for i in group]))
            for level, value in levels.items():
                value = value.mean(1) if value.dim() == 3 else value
                rows.setdefault(level, []).extend(zip(group, value.float().numpy(), strict=True))
        progress.update(begin + len(chunk))
    return {
        level: np.stack([v for _, v in sorted(pairs, key=lambda p: p[0])])
        for level, pairs in rows.items()
    }


def leave_one_speaker_out(
    features: np.ndarray,
    recordings: Sequence[Recording],
    probe: ProbeCfg,
    fit: Callable[..., float | ProbeScore] = probe_accuracy,
) -> dict[str, float | ProbeScore]:
    """Digit accuracy per held-out speaker of probes fitted on the other speakers' ``features
    [N, C]`` only."""
    speakers = sorted({r.speaker for r in recordings})
    digits = np.array([r.digit for r in recordings])
    held = np.array([r.speaker for r in recordings])
    return {
        s: fit(
            features[held != s], digits[held != s], features[held == s], digits[held == s], probe
        )
        for s in speakers
    }


def summarise(per_speaker: dict[str, float]) -> dict:
    """``digit_acc_mean`` and the per-speaker accuracies."""
    return {
        "digit_acc_mean": float(np.mean(list(per_speaker.values()))),
        "digit_acc": per_speaker,
    }


def evaluate(
    model: nn.Module,
    recordings: Sequence[Recording],
    level: str,
    probe: ProbeCfg,
    all_levels: bool = False,
    batch_size: int = 16,
) -> dict:
    """The FSDD metrics of a frozen ``model``'s audio encoder at ``level``, or with ``level =
    "select"`` at the level chosen per held-out speaker on the other speakers' recordings
    (:mod:`avpet.eval.selection`, reported under ``"selected"``); with ``all_levels`` (and
    ``"select"``) every level's mean accuracy under ``"levels"``."""
    features = extract(model, recordings, batch_size)
    probes = probe_levels(
        model,
        level,
        all_levels,
        lambda lvl, fit: leave_one_speaker_out(features[lvl], recordings, probe, fit=fit),
    )
    metrics: dict = {"level": level, "n_recordings": len(recordings)}
    if probes.chosen is not None:
        metrics["selected"] = probes.chosen
    if all_levels or probes.chosen is not None:
        metrics["levels"] = {
            lvl: float(np.mean(list(accuracies.values())))
            for lvl, accuracies in probes.per_level.items()
        }
    return {**summarise(probes.headline), **metrics}


HELP = "FSDD spoken digits, leave-one-speaker-out"
PROBES = True  # takes --level, --all-levels, --probe-c


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``avpet eval fsdd``'s own arguments (the common ones: :mod:`avpet.eval.cli`)."""
    parser.add_argument("--data", type=Path, required=True, help="FSDD folder (or its recordings/)")
    parser.add_argument(
        "--per-digit", type=int, help="use only the first N takes per speaker and digit"
    )


def run(args: argparse.Namespace, probe: ProbeCfg) -> dict:
    """The metrics of ``avpet eval fsdd``: a model's audio encoder (:func:`evaluate`) or, with
    ``--baseline``, log-mel statistics."""
    recordings = find_recordings(args.data, args.per_digit)
    if args.baseline:
        features = fsdd_features(recordings, HandcraftedCfg())
        per_speaker = leave_one_speaker_out(features, recordings, probe)
        return {**summarise(per_speaker), "n_recordings": len(recordings)}
    model = load_model(args.model, args.pretrained, args.seed)
    level = check_level(model, args.level)
    return evaluate(model, recordings, level, probe, args.all_levels, args.batch_size)

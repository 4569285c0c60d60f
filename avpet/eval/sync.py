"""``avpet eval sync``: offset detection on GRID, the audio shifted by every k in -15..15 frames.

GRID's recordings are in sync to within a frame, so a clip whose audio is moved ``k`` frames has a
known offset ``k``. The audio window of the moved file at frame step ``u`` is the original's at
``u - k`` (zeros outside the track), so each clip is embedded once, with twice the search range,
and every shift is read from those windows. Measured: the offset within +-1 frame with the whole
clip as context and with 15- and 5-frame contexts (every non-overlapping context inside the
sentence, from its first word's start to its last word's end by the .align file, is one trial:
GRID clips open and close with silence, where no context can say anything), and the AUROC of
the sync score of the clip as it is against the same clip with another clip's audio ("swapped")
and against its own audio shifted by 3 or more frames.

``--baseline`` replaces the model by a training-free signal pair: the mouth region's motion
energy (mean absolute difference of consecutive grey frames) and the audio's log energy per frame
step, both standardised per clip, so that the score curve is their cross-correlation.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..data.config import resolve_data_config
from ..data.grid import GridClip, find_clips, split_clips, split_unit, subset
from ..data.io import decode_audio, probe, reader_for
from ..data.transforms import create_transform
from ..errors import ConfigError
from ..sync.reader import SyncEmbeddings, embed_file
from ..sync.scorer import DEFAULT_MODEL, SyncScorer
from ..sync.scores import clip_scores, estimate
from .probe import ProbeCfg

HELP = "audio-visual offset on GRID, the audio shifted by every k in -15..15 frames"
PROBES = False  # no probe: no --level, --all-levels, --probe-c, --batch-size
CONTEXTS = (("whole", None), ("15", 15), ("5", 5))
TIMED_CLIPS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``avpet eval sync``'s own arguments (the common ones: :mod:`avpet.eval.cli`)."""
    parser.add_argument("--data", type=Path, required=True, help="GRID speaker folder")
    parser.add_argument("--split", type=float, default=0.8, help="training fraction (0.8)")
    parser.add_argument(
        "--clips",
        choices=("test", "validation"),
        default="test",
        help="test: the split's unseen clips; validation: the last tenth of the training side, "
        "which the sync model's training held out (for choosing settings)",
    )
    parser.add_argument("--limit", type=int, help="use N clips (a fixed pseudo-random pick)")
    parser.add_argument("--search", type=int, default=15, help="shifts and offsets tried (15)")


def run(args: argparse.Namespace, probe_cfg: ProbeCfg) -> dict:
    """The metrics of ``avpet eval sync`` for ``--model`` or ``--baseline``."""
    del probe_cfg  # no probe: the offset is read from the score curve
    clips = sync_clips(args)
    k = args.search
    if args.baseline:
        embed, span, timing = _baseline(k), 2, {}
    else:
        scorer = SyncScorer(args.model or DEFAULT_MODEL, args.pretrained, search=k)
        span = scorer.transform.cfg.input.frames

        def embed(clip: GridClip) -> SyncEmbeddings:  # twice the search: room for every shift
            return embed_file(scorer.model, scorer.transform, str(clip.video), 2 * k)

        timing = {"seconds_per_clip": _time(scorer, clips)}
    signals = [embed(clip) for clip in clips]
    speech = [spoken(clip, signal.fps) for clip, signal in zip(clips, signals, strict=True)]
    return {**measure(signals, speech, k, span), **timing, "n_clips": len(clips)}


def measure(signals: list[SyncEmbeddings], speech: list[slice], k: int, span: int) -> dict:
    """Offset accuracy per context and the two AUROCs, from embeddings made with search ``2k``;
    ``speech``: each clip's spoken frames; ``span``: frames one visual row covers."""
    hits = {name: [] for name, _ in CONTEXTS}
    genuine, shifted, swapped = [], [], []
    for i, signal in enumerate(signals):
        for shift in range(-k, k + 1):
            scores = clip_scores(moved(signal, signal.audio, k, shift))
            for name, context in CONTEXTS:
                for rows in _contexts(len(scores), speech[i], context, span):
                    hits[name].append(abs(estimate(scores[rows]).offset - shift) <= 1)
            score = estimate(scores).sync_score
            if shift == 0:
                genuine.append(score)
            elif abs(shift) >= 3:
                shifted.append(score)
        other = signals[(i + 1) % len(signals)].audio
        swapped.append(estimate(clip_scores(moved(signal, other, k, 0))).sync_score)
    out = {f"offset_acc_{name}": sum(h) / len(h) for name, h in hits.items()}
    out["auroc_swapped"] = auroc(genuine, swapped)
    out["auroc_shift3"] = auroc(genuine, shifted)
    return out


def auroc(positives: list[float], negatives: list[float]) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney)."""
    pos, neg = torch.tensor(positives)[:, None], torch.tensor(negatives)[None, :]
    return float((pos > neg).double().mean() + 0.5 * (pos == neg).double().mean())


def moved(signal: SyncEmbeddings, audio: torch.Tensor, k: int, shift: int) -> SyncEmbeddings:
    """``signal``'s visual rows against ``audio`` (windows of search ``2k``) moved ``shift``
    frames later, as windows of search ``k``."""
    count = signal.num_clips
    windows = audio[k - shift : k - shift + count + 2 * k]
    if len(windows) < count + 2 * k:  # another clip's shorter audio: silence after it
        windows = torch.cat(
            [windows, windows.new_zeros(count + 2 * k - len(windows), windows.shape[1])]
        )
    return SyncEmbeddings(signal.path, signal.fps, signal.start, k, signal.visual, windows)


def _contexts(rows: int, speech: slice, context: int | None, span: int) -> list[slice]:
    """The non-overlapping contexts of ``context`` frames inside the ``speech`` frames as row
    slices (``None``: the whole clip); a context of ``context`` frames holds ``context - span +
    1`` rows."""
    if context is None:
        return [slice(0, rows)]
    size = context - span + 1
    last = min(speech.stop - context, rows - size)
    return [slice(first, first + size) for first in range(speech.start, last + 1, context)]


def spoken(clip: GridClip, fps: float) -> slice:
    """Frames from the first word's start to the last word's end."""
    return slice(round(clip.words[0].start * fps), round(clip.words[-1].end * fps))


def sync_clips(args: argparse.Namespace) -> list[GridClip]:
    """The clips ``--clips`` names: the split's test side, or the held-out tenth of its training
    side (what the sync model's training kept back), ``--limit`` of them if given."""
    if args.search < 1:
        raise ConfigError(f"--search must be >= 1, got {args.search}")
    train, test = split_clips(find_clips(args.data / "video", args.data / "align"), args.split)
    held_out = 0.9 * args.split
    chosen = test if args.clips == "test" else [c for c in train if split_unit(c.id) >= held_out]
    chosen = subset(chosen, args.limit) if args.limit is not None else chosen
    if len(chosen) < 2:
        raise ConfigError(
            f"need at least 2 clips (one's audio swaps in for another's), got {len(chosen)}"
        )
    return chosen


def _time(scorer: SyncScorer, clips: list[GridClip]) -> float:
    """Median seconds ``scorer`` (what ``avpet sync`` runs) takes per clip, decoding included, on
    a few clips."""
    seconds = []
    for clip in clips[:TIMED_CLIPS]:
        started = time.perf_counter()
        scorer(clip.video)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _baseline(k: int) -> Callable[[GridClip], SyncEmbeddings]:
    """Motion energy of the mouth region against audio log energy, per frame step."""
    cfg = resolve_data_config(DEFAULT_MODEL)
    transform = create_transform(cfg)
    rate = cfg.input.sample_rate

    def embed(clip: GridClip) -> SyncEmbeddings:
        info = probe(clip.video)
        geometry = transform.geometry(info.path, info.height, info.width)
        with reader_for(info, "pyav") as reader:
            frames = transform.visual(reader.frames(range(info.num_frames)), geometry).mean(0)
        motion = (frames[1:] - frames[:-1]).abs().mean((1, 2))  # [N - 1]
        wave = decode_audio(info, rate, info.duration)
        step = rate / info.fps
        energy = torch.stack(
            [
                wave[round(u * step) : round((u + 1) * step)].square().mean()
                for u in range(info.num_frames)
            ]
        )
        energy = torch.log(energy + 1e-8)
        silence = float(energy.min())
        padded = torch.cat(
            [torch.full((2 * k,), silence), energy[: len(motion)], torch.full((2 * k,), silence)]
        )
        return SyncEmbeddings(
            info.path,
            info.fps,
            0.0,
            2 * k,
            _standard(motion)[:, None],
            _standard(padded, energy)[:, None],
        )

    return embed


def _standard(x: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
    ref = x if reference is None else reference
    return (x - ref.mean()) / (ref.std() + 1e-8)

"""``avpet extract``: features of videos at every level of a model, saved as safetensors.

The output holds one tensor per video per level, keyed ``"{video}/{level}"`` (``video`` as given on
the command line, bytes of a non-UTF-8 file name written ``\\xNN``; the level is the part after
the last ``/``), with the batch dimension removed:
``visual_cnn [T, Cv]``, ``visual_tokens [T, D]``, ``visual [T+1, D]``, ``multimodal [2T+2, D]``,
``visual_bos [D]`` and their audio counterparts, plus ``starts [T]`` (clip start seconds). A video
without audio is encoded from vision alone (no ``audio_*`` entries). The metadata names the model,
its input spec and data config (JSON), the weights source, the videos and any skipped ones.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from . import __version__
from .cli import add_pretrained_argument
from .config import to_dict
from .data import DataConfig, create_transform, load_sample, resolve_data_config
from .errors import ConfigError, MediaError
from .factory import create_model
from .hub.sources import weights_request
from .outputs import atomic_file, check_output, utf8_name

FORMAT = "avpet-features-v1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet extract``."""
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    parser.add_argument("--model", required=True, help="model name, optionally NAME.TAG")
    add_pretrained_argument(parser)
    parser.add_argument("--out", required=True, type=Path, help="output .safetensors file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "decord", "pyav"],
        help="video decoder (default auto: decord, PyAV where decord fails)",
    )
    parser.add_argument(
        "--on-error",
        default="raise",
        choices=["raise", "skip"],
        help="on an unusable video: stop with an error, or skip it (listed in the metadata)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of a randomly initialised model")
    parser.add_argument(
        "--prefetch",
        type=int,
        default=2,
        help="videos decoded ahead in a background thread while the model runs (0: none)",
    )


def run(args: argparse.Namespace) -> int:
    """``avpet extract``: write the features of every video to ``--out``."""
    if len(set(args.videos)) != len(args.videos):
        raise ConfigError("each VIDEO may be given only once")
    check_output(args.out, args.videos, args.overwrite)  # before the work, and again at the end
    torch.manual_seed(args.seed)
    pretrained = weights_request(args.model, args.pretrained)
    model = create_model(args.model, pretrained=pretrained).eval()
    cfg = resolve_data_config(model, backend=args.backend)
    if args.prefetch < 0:
        raise ConfigError(f"--prefetch must be >= 0, got {args.prefetch}")
    tensors, skipped = extract_features(
        model, args.videos, cfg, args.on_error == "skip", args.prefetch
    )
    metadata = {
        "format": FORMAT,
        "avpet_version": __version__,
        "model": args.model,
        "pretrained": str(pretrained) if pretrained else "none",
        "input_spec": json.dumps(to_dict(cfg.input)),
        "data_config": json.dumps(to_dict(cfg)),
        "videos": json.dumps([utf8_name(v) for v in args.videos if utf8_name(v) not in skipped]),
        "skipped": json.dumps(skipped),
    }
    with atomic_file(args.out, args.overwrite, args.videos) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    print(f"wrote {len(args.videos) - len(skipped)} video(s) to {args.out}")
    return 0


def extract_features(
    model: torch.nn.Module,
    videos: Sequence[str],
    cfg: DataConfig,
    skip_bad: bool,
    prefetch: int = 2,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Evaluation-mode features of each video: ``({"video/level": tensor}, {skipped: reason})``;
    up to ``prefetch`` videos are decoded ahead while the model runs."""
    transform = create_transform(cfg, is_training=False)
    tensors: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    decoded = decode_ahead(videos, lambda video: load_sample(video, transform), prefetch)
    for video, sample in tqdm(
        decoded, total=len(videos), desc="avpet extract", unit="video", disable=None
    ):
        if isinstance(sample, MediaError):
            if not skip_bad:
                raise sample
            skipped[utf8_name(video)] = sample.reason
            continue
        audio = sample["audio"][None] if sample["has_audio"] else None
        with torch.inference_mode():
            features = model.forward_features(visual=sample["visual"][None], audio=audio)
        for level, value in features.items():
            tensors[f"{utf8_name(video)}/{level}"] = (
                value[0].float().clone(memory_format=torch.contiguous_format)
            )
        tensors[f"{utf8_name(video)}/starts"] = sample["starts"]
    return tensors, skipped


def decode_ahead(
    videos: Sequence[str], load: Callable[[str], dict], prefetch: int
) -> Iterator[tuple[str, dict | MediaError]]:
    """``(video, load(video))`` in order, the next ``prefetch`` videos loading in a background
    thread meanwhile (decoders and torch release the GIL); an unusable video yields its
    :class:`MediaError` in its place. ``prefetch=0`` loads each video when it is reached."""

    def attempt(video: str) -> dict | MediaError:
        try:
            return load(video)
        except MediaError as error:
            return error

    if prefetch == 0:
        yield from ((video, attempt(video)) for video in videos)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque[tuple[str, Future]] = deque()
        for video in videos:
            pending.append((video, pool.submit(attempt, video)))
            if len(pending) > prefetch:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()

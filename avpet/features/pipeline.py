"""Features of many files, fast: decoding threads ahead, batched model calls across files.

``workers`` threads each stream one file at a time (:class:`~avpet.data.stream.MediaStream`) into
a bounded queue of windows; the main thread stacks windows of the same shape, from any files,
into model calls of ``batch_size`` clips (a call runs once it is full; what is left of each shape
runs once every file is decoded) and hands out a file's :class:`VideoFeatures` once all its
windows are through the model. A window is the model's sequence: ``num_clips`` clips for a model
whose clips see each other (AVBERT), one clip for a model that encodes clips alone (VATT, MMV).

Those last partial calls are padded with zeros to the full call's shape: a window's features
then never depend on which windows share its call (CPU and GPU kernels are picked by shape), so
a file's features are the same bitwise whatever the timing, ``workers`` or the number of
processes sharing the files (``torchrun -m avpet extract``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from ..data.sources import Source
from ..data.stream import Coverage, MediaStream, Window
from ..data.transforms import ClipTransform
from ..errors import ConfigError, MediaError
from ..models.contract import MODALITIES, AVModel
from ..threads import plan
from .store import VideoFeatures


@dataclass(frozen=True)
class ExtractCfg:
    """How :func:`run` reads and batches: ``coverage`` (which clips), ``batch_size`` (clips per
    model call), ``workers`` (files decoded at once, in threads), ``device``, ``precision``
    (``"fp32"``, or ``"bf16"`` autocast), ``threads``: the run's CPU threads in all, torch's and
    the decode threads (``None``: the free cores, :func:`avpet.threads.plan`; more threads than
    free cores make torch's thread pool spin against the decoders)."""

    coverage: Coverage = field(default_factory=Coverage)
    batch_size: int = 32
    workers: int = 2
    device: str = "cpu"
    precision: Literal["fp32", "bf16"] = "fp32"
    threads: int | None = None

    def __post_init__(self):
        if self.batch_size < 1 or self.workers < 1 or (self.threads or 1) < 1:
            raise ConfigError("--batch-size, --workers and --threads must be >= 1")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"--precision is fp32 or bf16, got {self.precision!r}")


@dataclass
class _Video:
    """What the main thread knows of one file in flight."""

    source: Source
    stream: MediaStream | None = None
    windows: dict[int, tuple[Window, dict[str, torch.Tensor]]] = field(default_factory=dict)
    """Window k's times (its inputs dropped) and its features, as they come from the model."""


_END = object()  # a worker has no more files


def run(
    sources: Sequence[Source], model: AVModel, transform: ClipTransform, cfg: ExtractCfg
) -> Iterator[tuple[Source, VideoFeatures | MediaError]]:
    """``(source, features or the MediaError that made the file unusable)`` for each source, in
    the order the files finish. ``model`` must be on ``cfg.device`` in eval mode."""
    window = 1 if model.clips_alone else transform.cfg.input.num_clips
    per_call = max(1, cfg.batch_size // window)
    windows: queue.Queue = queue.Queue(maxsize=2 * per_call * max(cfg.workers, 1))
    stop = threading.Event()
    budget = plan(cfg.threads, cfg.workers)
    todo = iter(enumerate(sources))
    lock = threading.Lock()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                return windows.put(item, timeout=0.1)
            except queue.Full:
                continue

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:
                    i, source = next(todo, (None, None))
                if source is None:
                    return
                try:
                    with MediaStream(source.path, transform, cfg.coverage, window) as stream:
                        put((i, stream))
                        for k, w in enumerate(stream):
                            if stop.is_set():
                                return
                            put((i, k, w))
                except MediaError as error:
                    put((i, error))
        except BaseException as error:  # a bug, not bad input: the main thread re-raises it
            put((None, error))
        finally:
            put(_END)

    threads = [
        threading.Thread(target=work, name=f"avpet-decode-{n}", daemon=True)
        for n in range(min(budget.workers, len(sources)))
    ]
    for thread in threads:
        thread.start()
    videos = {i: _Video(source) for i, source in enumerate(sources)}
    pending: dict[tuple, list[tuple[int, int, Window]]] = {}
    running = len(threads)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(budget.torch)
    try:
        while running:
            item = windows.get()
            if item is _END:
                running -= 1
            elif isinstance(item[-1], BaseException):
                i, error = item
                if i is None:
                    raise error
                yield videos.pop(i).source, error
            elif isinstance(item[-1], MediaStream):
                videos[item[0]].stream = item[1]
            else:
                i, k, w = item
                key = (len(w.start), w.visual is not None, w.audio is not None)
                pending.setdefault(key, []).append((i, k, w))
                if len(pending[key]) >= per_call:
                    yield from _call(model, videos, pending.pop(key), cfg, per_call)
        for key in list(pending):  # every file is decoded: the partial calls that are left
            yield from _call(model, videos, pending.pop(key), cfg, per_call)
    finally:
        torch.set_num_threads(torch_threads)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def _call(
    model: AVModel,
    videos: dict[int, _Video],
    batch: list[tuple[int, int, Window]],
    cfg: ExtractCfg,
    size: int,
) -> Iterator[tuple[Source, VideoFeatures]]:
    """Run one batch of same-shape windows, padded to ``size`` windows; the files it completes."""
    batch = [(i, k, w) for i, k, w in batch if i in videos]  # drop windows of failed files
    if not batch:
        return
    inputs = {}
    for modality in MODALITIES:
        if getattr(batch[0][2], modality) is not None:
            x = torch.stack([getattr(w, modality) for _, _, w in batch])
            padding = x.new_zeros(size - len(batch), *x.shape[1:])
            inputs[modality] = torch.cat([x, padding]).to(cfg.device)
    device_type = torch.device(cfg.device).type
    with (
        torch.inference_mode(),
        torch.autocast(device_type, torch.bfloat16, enabled=cfg.precision == "bf16"),
    ):
        out = model.forward_features(**inputs)
    out = {name: value.float().cpu() for name, value in out.items()}
    for n, (i, k, w) in enumerate(batch):  # keep the times, not the inputs: memory stays flat
        times = Window(None, None, w.start, w.end)
        videos[i].windows[k] = (times, {name: value[n] for name, value in out.items()})
    for i in sorted({i for i, _, _ in batch}):
        video = videos[i]
        if video.stream is not None and len(video.windows) == video.stream.num_windows:
            yield video.source, _assemble(model, videos.pop(i))


def _assemble(model: AVModel, video: _Video) -> VideoFeatures:
    """One file's windows → its :class:`VideoFeatures` (zeros for a modality it lacks)."""
    stream = video.stream
    parts = [video.windows[k] for k in range(stream.num_windows)]
    sizes = [len(w.start) for w, _ in parts]
    features = {}
    for level in model.feature_levels():
        for modality in MODALITIES:
            if modality not in level.modalities:
                continue
            name = f"{modality}_{level.name}"
            if name in parts[0][1]:
                values = [f[name] for _, f in parts]
                features[name] = torch.cat(values) if level.per_clip else torch.stack(values)
            else:
                rows = sum(sizes) if level.per_clip else len(parts)
                features[name] = torch.zeros(rows, level.dims[modality])
    return VideoFeatures(
        path=video.source.path,
        features=features,
        start=torch.cat([w.start for w, _ in parts]),
        end=torch.cat([w.end for w, _ in parts]),
        window=torch.repeat_interleave(torch.arange(len(parts)), torch.tensor(sizes)),
        has_visual=stream.has_visual,
        has_audio=stream.has_audio,
        duration=stream.info.duration,
    )

"""The pretraining loop: DDP, accumulation, clipping, mixed precision, logging, exact resume.

One call of :func:`train` runs on every rank torchrun starts (or alone); the objective is a task
of :mod:`avpet.pretrain.tasks` (``task.name``, by default the backbone's own).
Rank 0 writes, under ``train.out_dir``: ``config.json``, ``metrics.jsonl`` (one object per logged
step), ``tensorboard/``, ``checkpoints/step_*.pt`` and, at the end, ``final/`` (the backbone in the
hub repo layout: model.safetensors, config.json, README.md).
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..config import to_dict
from ..data.datasets import SeededItems
from ..data.shards import ShardDataset
from ..errors import CheckpointError, ConfigError, TrainingError
from ..factory import create_model
from ..hub.export import base_model_of
from ..hub.sources import weights_request
from ..outputs import atomic_directory
from . import checkpoint as ckpt
from . import distributed, run_dir
from .config import PretrainCfg, save_config, schedule_changes
from .data import ResumableSampler, build_dataset, training_crop
from .metrics import MetricsLog
from .optim import build_optimizer, build_scheduler
from .tasks import create_task


@dataclass
class DataPosition:
    """Where the data stream is: epoch, batches of it consumed, loader generator at its start,
    and for streamed shards how many samples each worker has taken (``None`` otherwise)."""

    epoch: int = 0
    batch: int = 0
    generator: torch.Tensor | None = None
    taken: list[int] | None = None


def train(cfg: PretrainCfg, resume: str | None = None, overwrite: bool = False) -> Path:
    """Pretrain ``cfg.model.name`` and export it; returns the export folder.

    ``resume``: ``None`` starts fresh, ``"auto"`` continues from the newest checkpoint in
    ``train.out_dir`` if there is one, anything else is a checkpoint path. A fresh run into a
    folder that holds an earlier one is refused unless ``overwrite`` (which deletes it); the
    folder is locked for the run (:mod:`avpet.pretrain.run_dir`).
    """
    ctx = distributed.setup(cfg.train.device)
    try:
        with run_dir.claim(cfg.train.out_dir, not resume, overwrite, enabled=ctx.is_main):
            distributed.barrier()
            return _Trainer(cfg, ctx).run(resume)
    finally:
        distributed.teardown()


class _Trainer:
    def __init__(self, cfg: PretrainCfg, ctx: distributed.Context):
        self.cfg, self.ctx = cfg, ctx
        tc = cfg.train
        if tc.precision == "fp16" and ctx.device.type != "cuda":
            raise ConfigError("train.precision=fp16 needs CUDA; use fp32 or bf16 on CPU")
        self.out = Path(tc.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        torch.manual_seed(tc.seed)  # identical initial weights on every rank
        backbone = create_model(
            cfg.model.name,
            pretrained=weights_request(cfg.model.name, cfg.model.pretrained or False),
        )
        roi = training_crop(cfg.data)  # the crop trained on travels with the exported weights
        if roi is not None:
            spec = replace(backbone.pretrained_cfg.input, roi=roi)
            backbone.pretrained_cfg = replace(backbone.pretrained_cfg, input=spec)
        pretrainer = create_task(backbone, cfg)
        self.module, self.objective = pretrainer.module.to(ctx.device), pretrainer.objective
        _seed_everything(tc.seed + 1 + ctx.rank)  # masks, negatives, dropout differ per rank
        self.model: nn.Module = (
            DistributedDataParallel(
                self.module,
                device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None,
                find_unused_parameters=pretrainer.find_unused_parameters,
            )
            if ctx.world_size > 1
            else self.module
        )
        self.optimizer = build_optimizer(self.module, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, tc.max_steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=tc.precision == "fp16")
        spec = backbone.pretrained_cfg.input
        if cfg.data.num_clips is not None:
            spec = replace(spec, num_clips=cfg.data.num_clips)
        dataset = build_dataset(cfg.data, spec, tc.seed)
        self.sampler: ResumableSampler | None = None
        if isinstance(dataset, ShardDataset):  # streamed: the dataset orders itself
            dataset.configure(ctx.rank, ctx.world_size, cfg.data.num_workers, tc.batch_size)
            self.dataset: Dataset = dataset
        else:
            self.dataset = SeededItems(dataset, tc.seed)
            if len(self.dataset) < ctx.world_size * tc.batch_size:
                raise ConfigError(
                    f"{cfg.data.train}: {len(self.dataset)} sequences, fewer than one batch of "
                    f"{tc.batch_size} on each of {ctx.world_size} ranks"
                )
            self.sampler = ResumableSampler(self.dataset, ctx.world_size, ctx.rank, tc.seed)
        self.loader_generator = torch.Generator().manual_seed(tc.seed + ctx.rank)
        self.position = DataPosition()
        self.step = 0

    # ---- data -------------------------------------------------------------------------------

    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """Batches forever, epoch after epoch, starting at ``self.position``."""
        tc, pos = self.cfg.train, self.position
        while True:
            if self.sampler is None:
                self.dataset.set_position(pos.epoch, pos.batch, pos.taken)
                pos.taken = list(self.dataset.taken)
            else:
                self.sampler.set_position(pos.epoch, pos.batch * tc.batch_size)
                self.dataset.set_epoch(pos.epoch)
            if pos.generator is None:
                pos.generator = self.loader_generator.get_state()
            else:
                self.loader_generator.set_state(pos.generator)
            loader = DataLoader(
                self.dataset,
                batch_size=tc.batch_size,
                sampler=self.sampler,
                num_workers=self.cfg.data.num_workers,
                drop_last=True,
                generator=self.loader_generator,
                pin_memory=self.ctx.device.type == "cuda",
            )
            for batch in _reraised(loader):
                if pos.taken is not None:  # batch b comes from worker b % workers
                    pos.taken[pos.batch % len(pos.taken)] = int(batch.pop("stream_pos")[-1])
                pos.batch += 1
                yield batch
            pos.epoch, pos.batch, pos.generator = pos.epoch + 1, 0, None
            pos.taken = None

    # ---- checkpoints --------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        pos = self.position
        return {
            "step": self.step,
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "data": {
                "epoch": pos.epoch,
                "batch": pos.batch,
                "taken": distributed.gather_objects(pos.taken),
            },
            "loader_generators": distributed.gather_objects(
                self.loader_generator.get_state() if pos.generator is None else pos.generator
            ),
            "rng": distributed.gather_objects(ckpt.capture_rng()),
            "world_size": self.ctx.world_size,
            "config": to_dict(self.cfg),
        }

    def _save(self) -> None:
        state = self._state()  # collective: every rank takes part
        if self.ctx.is_main:
            ckpt.save_checkpoint(state, self.ckpt_dir, self.cfg.train.keep_last)
        distributed.barrier()

    def _resume(self, resume: str) -> None:
        found = self._load_for_resume(resume)
        if found is None:
            return
        path, state = found
        if state["world_size"] != self.ctx.world_size:
            raise CheckpointError(
                path,
                f"written by {state['world_size']} ranks; resume it with the same number "
                f"(this run has {self.ctx.world_size}) to continue exactly",
            )
        changes = schedule_changes(state.get("config", {}), self.cfg)
        if changes:
            raise CheckpointError(
                path,
                f"written under another learning-rate schedule ({'; '.join(changes)}); resume "
                "with the checkpoint's values, or start a new run from the exported weights "
                "(model.pretrained=local-dir:OUT_DIR/final)",
            )
        try:
            self.module.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(
                path, f"does not match this model or optimizer: {error}"
            ) from error
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        data = state["data"]
        generator = state["loader_generators"][self.ctx.rank]
        taken = data.get("taken", [None] * self.ctx.world_size)[self.ctx.rank]
        if self.sampler is None and taken is not None and len(taken) != self.dataset.workers:
            raise CheckpointError(
                path,
                f"streamed shards with {len(taken)} data workers per rank; resume it with "
                f"data.num_workers={len(taken)} (this run has {self.dataset.workers})",
            )
        self.position = DataPosition(data["epoch"], data["batch"], generator, taken)
        ckpt.restore_rng(state["rng"][self.ctx.rank])
        self.step = state["step"]
        if self.ctx.is_main:
            print(f"resumed from {path} at step {self.step}", flush=True)

    def _load_for_resume(self, resume: str) -> tuple[Path, dict[str, Any]] | None:
        """The checkpoint to resume from and its state (``None``: nothing to resume)."""
        if resume != "auto":
            return Path(resume), ckpt.load_checkpoint(resume)
        found = ckpt.list_checkpoints(self.ckpt_dir)
        if not found:
            return None
        try:
            return found[-1], ckpt.load_checkpoint(found[-1])
        except CheckpointError as error:
            previous = next((p for p in reversed(found[:-1]) if _loads(p)), None)
            hint = f"; {previous} is intact (--resume-from it)" if previous else ""
            raise CheckpointError(found[-1], f"{error.reason}{hint}") from error

    # ---- loop ---------------------------------------------------------------------------------

    def run(self, resume: str | None) -> Path:
        tc, ctx = self.cfg.train, self.ctx
        if resume:
            self._resume(resume)
        log = MetricsLog(self.out, self.step, enabled=ctx.is_main)
        if ctx.is_main:
            save_config(self.cfg, self.out / "config.json")
        autocast = torch.autocast(
            ctx.device.type,
            dtype=torch.bfloat16 if tc.precision == "bf16" else torch.float16,
            enabled=tc.precision != "fp32",
        )
        batches = self._batches()
        self.model.train()
        progress = tqdm(
            total=tc.max_steps, initial=self.step, disable=not ctx.is_main, desc="pretrain"
        )
        while self.step < tc.max_steps:
            started = time.perf_counter()
            totals = self._accumulate(batches, autocast)
            _stop_unless_finite(self.step + 1, totals)
            grad_norm = self._optimizer_step()
            self.step += 1
            if self.step % tc.log_every == 0 or self.step == tc.max_steps:
                metrics = distributed.mean_across_ranks(totals, ctx.device)
                metrics.update(
                    lr=self.scheduler.get_last_lr()[0],
                    grad_norm=grad_norm,
                    epoch=self.position.epoch,
                    sec_per_step=time.perf_counter() - started,
                )
                log.write(self.step, metrics)
                progress.set_postfix(loss=f"{metrics['loss']:.4f}")
            progress.update(1)
            if self.step % tc.ckpt_every == 0 or self.step == tc.max_steps:
                self._save()
        progress.close()
        log.close()
        return self._export()

    def _accumulate(
        self, batches: Iterator[dict], autocast: contextlib.AbstractContextManager
    ) -> dict[str, float]:
        """Forward and backward ``grad_accum`` micro-batches; their mean losses as floats."""
        accum = self.cfg.train.grad_accum
        totals: dict[str, float] = {}
        for micro in range(accum):
            batch = next(batches)
            visual = batch["visual"].to(self.ctx.device, non_blocking=True)
            audio = batch["audio"].to(self.ctx.device, non_blocking=True)
            last = micro == accum - 1
            sync = (
                contextlib.nullcontext()
                if last or self.model is self.module
                else self.model.no_sync()
            )
            with sync:
                with autocast:
                    losses = self.model(visual, audio)
                self.scaler.scale(losses["loss"] / accum).backward()
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value.item() / accum
        return totals

    def _optimizer_step(self) -> float:
        """Unscale, clip, step optimizer and schedule; returns the gradient norm before clipping."""
        self.scaler.unscale_(self.optimizer)
        clip = self.cfg.optim.clip_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(
            self.module.parameters(), clip if clip > 0 else float("inf")
        )
        lr = self.scheduler.get_last_lr()[0]
        if not self.scaler.is_enabled():  # fp16's scaler skips steps with inf gradients itself
            _stop_unless_finite(self.step + 1, {"grad_norm": float(norm), "lr": lr})
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def _export(self) -> Path:
        final = self.out / "final"
        if self.ctx.is_main:
            from ..hub import save_pretrained
            from ..hub.export import run_pretrained_cfg

            backbone = self.module.backbone
            backbone.pretrained_cfg = run_pretrained_cfg(
                backbone.pretrained_cfg, self.cfg, self.objective, self.step, self.ctx.world_size
            )
            with atomic_directory(final, overwrite=True) as tmp:
                save_pretrained(backbone, tmp, base_model=base_model_of(self.cfg.model))
        distributed.barrier()
        return final


def _reraised(loader: DataLoader) -> Iterator[dict]:
    """``loader``'s batches; an avpet error in a worker process (which the DataLoader re-raises as
    a ``RuntimeError`` holding the worker's traceback) becomes one :class:`TrainingError` with the
    error's own message."""
    try:
        yield from loader
    except RuntimeError as error:
        found = re.findall(r"^avpet\.errors\.\w+: (.+)$", str(error), re.M)
        if not found or "DataLoader worker" not in str(error):
            raise
        raise TrainingError(f"data loader worker: {found[-1]}") from None


def _stop_unless_finite(step: int, values: dict[str, float]) -> None:
    """Raise :class:`TrainingError` before the weights are updated with a NaN or inf."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise TrainingError(
            f"step {step}: non-finite {bad}; training stopped before updating the weights "
            "(lower optim.lr or check the data; the last checkpoint is intact)"
        )


def _loads(path: Path) -> bool:
    try:
        ckpt.load_checkpoint(path)
    except CheckpointError:
        return False
    return True


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

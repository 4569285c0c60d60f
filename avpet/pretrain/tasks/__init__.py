"""Pretraining tasks: a backbone wrapped with its objective, chosen outside the loop.

A task is an ``nn.Module`` whose ``forward(visual, audio)`` returns one step's losses (``"loss"``
and its named terms), which is what DistributedDataParallel wraps. :data:`TASKS` maps a task name
to its builder; ``task.name = "auto"`` takes the backbone's ``default_task``. A new objective is
one module here and one entry in the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ...errors import ConfigError
from ..config import PretrainCfg
from .avbert import AVBertPretrainer
from .contrastive import ContrastiveTask


@dataclass(frozen=True)
class Task:
    """A backbone wrapped with its objective, and what the loop needs to know about it.

    ``objective`` names the loss in the exported model card; ``find_unused_parameters`` tells DDP
    that some trainable parameters may get no gradient (a peer's text tower without text, the
    Transformers of an AVBERT model trained on its tokens alone).
    """

    module: nn.Module
    objective: str
    find_unused_parameters: bool


def _avbert(backbone: nn.Module, cfg: PretrainCfg) -> Task:
    module = AVBertPretrainer(backbone, cfg.mep, cfg.cpp, cfg.negatives, cfg.avc)
    objective = "MEP + CPP" + (" + AVC" if cfg.avc.weight else "")
    return Task(module, objective, find_unused_parameters=False)


def _contrastive(backbone: nn.Module, cfg: PretrainCfg) -> Task:
    module = ContrastiveTask(backbone, cfg.contrastive)
    return Task(module, "contrastive NCE", find_unused_parameters=True)


TASKS: dict[str, Callable[[nn.Module, PretrainCfg], Task]] = {
    "avbert": _avbert,
    "contrastive": _contrastive,
}


def create_task(backbone: nn.Module, cfg: PretrainCfg) -> Task:
    """The task ``cfg.task.name`` (``auto``: ``backbone.default_task``) around ``backbone``."""
    name = backbone.default_task if cfg.task.name == "auto" else cfg.task.name
    if name not in TASKS:
        raise ConfigError(f"unknown pretraining task {name!r}; choose from {list(TASKS)}")
    return TASKS[name](backbone, cfg)


__all__ = ["TASKS", "AVBertPretrainer", "ContrastiveTask", "Task", "create_task"]

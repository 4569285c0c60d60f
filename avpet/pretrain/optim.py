"""Optimizer and learning-rate schedule of the pretraining recipe."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .config import OptimCfg


def build_optimizer(module: nn.Module, cfg: OptimCfg) -> torch.optim.AdamW:
    """AdamW; biases, norms, embeddings and other 1-D parameters get no weight decay."""
    decay, no_decay = [], []
    for param in module.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


@dataclass(frozen=True)
class WarmupCosine:
    """LR factor after ``step`` optimizer steps: linear warmup to 1 over ``warmup`` steps, then
    cosine decay to ``min_ratio`` at ``total`` steps (for ``torch.optim.lr_scheduler.LambdaLR``)."""

    warmup: int
    total: int
    min_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimCfg, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupCosine(cfg.warmup_steps, total_steps, cfg.min_lr_ratio)
    )

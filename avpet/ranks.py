"""This process's place among the processes ``torchrun`` started for ``avpet extract`` or
``avpet index``, and the few collectives they need (gloo, CPU objects only).

Launched plainly there is one rank and every collective is the identity; under ``torchrun`` the
environment carries ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE`` and the
rendezvous. (Pretraining's process group, nccl on GPUs, is :mod:`avpet.pretrain.distributed`.)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """``rank`` of ``world`` processes; ``local_rank`` of ``local_world`` on this node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Ranks:
    """The ranks torchrun's environment describes (one process when it is not set)."""
    value = {k: int(os.environ.get(k, d)) for k, d in _VARIABLES.items()}
    return Ranks(value["RANK"], value["WORLD_SIZE"], value["LOCAL_RANK"], value["LOCAL_WORLD_SIZE"])


_VARIABLES = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}


@contextlib.contextmanager
def process_group(ranks: Ranks) -> Iterator[Ranks]:
    """Join torchrun's gloo process group for the block when there are several ranks."""
    joined = ranks.world > 1 and not dist.is_initialized()
    if joined:
        dist.init_process_group("gloo")
    try:
        yield ranks
    finally:
        if joined:
            dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (nothing when running alone)."""
    if dist.is_initialized():
        dist.barrier()


def gather_to_main(obj: object) -> list[object]:
    """Every rank's ``obj`` in rank order on rank 0 (``[]`` on the others; ``[obj]`` alone)."""
    if not dist.is_initialized():
        return [obj]
    out: list[object] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out or []

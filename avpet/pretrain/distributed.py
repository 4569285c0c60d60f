"""Process-group plumbing: set up from torchrun's environment, gather with gradient, reduce.

Launched by ``torchrun`` the environment carries ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address; launched plainly (``python -m avpet.pretrain``) it runs as one process and
every collective here is the identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from ..errors import ConfigError


@dataclass(frozen=True)
class Context:
    """This process's place in the job and the device it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> Context:
    """Join the process group torchrun describes (nccl on GPU, gloo on CPU), or run alone.

    ``device``: ``"cuda"``, ``"cpu"`` or ``"auto"`` (CUDA when available).
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but torch sees no CUDA device")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            device_id=target if use_cuda else None,
        )
    return Context(rank=rank, world_size=world_size, local_rank=local_rank, device=target)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when running alone)."""
    return dist.get_rank() if _active() else 0


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` [N, ...] of every rank in rank order → [world * N, ...].

    The local part is ``x`` itself, so gradients reach this rank's inputs; the other ranks' parts
    are constants here (their own ranks compute their gradients). Every rank must pass the same
    shape.
    """
    if not _active():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    parts[dist.get_rank()] = x
    return torch.cat(parts)


def mean_across_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar metrics over ranks (identity when running alone)."""
    if not _active() or not values:
        return values
    stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(stacked)
    stacked /= dist.get_world_size()
    return dict(zip(values, stacked.tolist(), strict=True))


def gather_objects(obj: object) -> list[object]:
    """Every rank's ``obj`` in rank order, on every rank (``[obj]`` when running alone)."""
    if not _active():
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if _active():
        dist.barrier()

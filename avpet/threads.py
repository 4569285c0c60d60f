"""One thread budget per process: torch's intra-op threads and the decode threads or data workers
of one command together ask for no more cores than the process has.

A process's cores are its CPU affinity (capped by a cgroup CPU quota), shared evenly among the
ranks torchrun started on the node (``LOCAL_WORLD_SIZE``). By default a command also leaves the
cores that other processes keep busy (``/proc/stat`` less this process's own CPU time, from the
command's start, :func:`mark`, to the model's first use, or over :data:`SAMPLE_SECONDS`): torch's
OpenMP threads wait for each other by spinning, so one thread more than there are free cores
makes every parallel step wait for the thread the kernel set aside, and a busy machine ran
``avpet sync`` 2.6-3.4x slower at torch's default than at one thread (docs/performance.md).
``--threads N`` (or ``AVPET_THREADS``) names the budget instead; ``OMP_NUM_THREADS``, where set,
caps torch's share.

Every command that runs a model calls :func:`configure` once; pretraining's DataLoader and a
distributed launcher call :func:`plan` for the split.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

SAMPLE_SECONDS = 0.2
ENV_THREADS = "AVPET_THREADS"
_mark: tuple[float, float, dict] | None = None  # (wall clock, own CPU time, /proc/stat) at mark()


@dataclass(frozen=True)
class ThreadPlan:
    """How a budget of ``torch + workers`` threads is spent: ``torch`` intra-op threads and
    ``workers`` decode threads (or DataLoader processes) of one decode thread each."""

    torch: int
    workers: int

    @property
    def total(self) -> int:
        return self.torch + self.workers


def process_cores() -> int:
    """Cores this process may use: its affinity, a cgroup v2 quota, over the node's local ranks."""
    cores = _affinity()
    return max(1, min(cores, _cgroup_quota() or cores) // _local_ranks())


def mark() -> None:
    """Start measuring other work now: the next :func:`busy_cores` spans the interval from here
    (the ``avpet`` command marks on start, so model loading overlaps the measurement)."""
    global _mark
    _mark = (time.monotonic(), time.process_time(), _cpu_times())


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float:
    """How many of this process's CPUs other processes keep busy: CPU time of all (``/proc/stat``)
    less this process's own, over the time since :func:`mark` (from now without one), waiting
    until that spans ``seconds`` (0 where ``/proc/stat`` is not there)."""
    began, own_began, before = _mark or (time.monotonic(), time.process_time(), _cpu_times())
    time.sleep(max(0.0, seconds - (time.monotonic() - began)))
    after = _cpu_times()
    busy = 0.0
    for cpu, (total, idle) in after.items():
        if cpu in before and total > before[cpu][0]:
            busy += 1.0 - (idle - before[cpu][1]) / (total - before[cpu][0])
    own = (time.process_time() - own_began) / max(time.monotonic() - began, 1e-9)
    return max(0.0, busy - own)


def default_threads() -> int:
    """``AVPET_THREADS``, else this process's cores less those busy with other work (≥ 1)."""
    if os.environ.get(ENV_THREADS):
        return _positive(os.environ[ENV_THREADS], ENV_THREADS)
    return max(1, min(process_cores(), round(_affinity() - busy_cores())))


def plan(threads: int | None = None, workers: int = 0) -> ThreadPlan:
    """Split ``threads`` (default :func:`default_threads`) between torch and up to ``workers``
    decode threads: workers get at most ``threads - 1`` (at least one if any were asked for),
    torch the rest (at least one; one decode thread beside one torch thread on a single core is
    the only overlap, and a decode thread blocks on its queue rather than spinning)."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    budget = default_threads() if threads is None else threads
    used = min(workers, max(1, budget - 1))
    torch_threads = max(1, budget - used)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]):
        torch_threads = min(torch_threads, int(os.environ["OMP_NUM_THREADS"]))
    return ThreadPlan(torch_threads, used)


def configure(threads: int | None = None, workers: int = 0) -> ThreadPlan:
    """:func:`plan`, and torch set to its share (for the rest of the process: one command)."""
    import torch

    chosen = plan(threads, workers)
    torch.set_num_threads(chosen.torch)
    return chosen


def _cpu_times() -> dict[str, tuple[int, int]]:
    """``{cpuN: (total jiffies, idle + iowait jiffies)}`` of the CPUs this process may run on."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return {}
    times = {}
    for line in lines:
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
            continue
        if allowed is not None and int(name[3:]) not in allowed:
            continue
        numbers = [int(v) for v in values[:8]]
        times[name] = (sum(numbers), numbers[3] + numbers[4])
    return times


def _affinity() -> int:
    """How many CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cgroup_quota() -> int | None:
    """Cores a cgroup v2 ``cpu.max`` quota allows (rounded up), or ``None`` for no quota."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))


def _local_ranks() -> int:
    return _positive(os.environ.get("LOCAL_WORLD_SIZE", "1"), "LOCAL_WORLD_SIZE")


def _positive(text: str, name: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {text!r}")
    return int(text)

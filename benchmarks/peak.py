"""Peak resident memory of this process, for the benchmarks that run each case in its own one."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mib() -> float:
    """``VmHWM`` of ``/proc/self/status`` in MiB: the high-water mark of this process's own
    memory map. (``getrusage().ru_maxrss`` would not do: Linux carries the parent's resident size
    at fork into a child's, so a child forked by a large parent reports the parent's peak.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")

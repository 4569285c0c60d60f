"""The thread budget (avpet/threads.py): torch's threads and the decode workers of one command
fit the cores the process has, shared among torchrun's local ranks and left to other work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT

from avpet import threads
from avpet.cli import main
from avpet.errors import ConfigError

CORES = len(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("AVPET_THREADS", "OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    # an earlier test's `avpet` command marked its start; measure from now, not from then
    monkeypatch.setattr(threads, "_mark", None)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("budget", [1, 2, 3, 8])
@pytest.mark.parametrize("workers", [0, 1, 2, 16])
def test_torch_and_workers_never_exceed_the_budget(budget, workers):
    plan = threads.plan(budget, workers)
    assert plan.torch >= 1 and plan.workers == (min(workers, max(1, budget - 1)))
    assert plan.total <= max(budget, 2)  # one decode thread beside one torch thread at worst
    if budget >= 2:
        assert plan.total <= budget


def test_local_ranks_share_the_cores(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(2 * CORES))
    assert threads.process_cores() == 1 and threads.default_threads() == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert threads.process_cores() == CORES
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "zero")
    with pytest.raises(ConfigError, match="LOCAL_WORLD_SIZE"):
        threads.process_cores()


def test_the_default_leaves_cores_busy_with_other_work():
    """With every core of this process kept busy by other processes, one thread is left."""
    spin = [sys.executable, "-c", "print(flush=True)\nwhile True: pass"]
    busy = [subprocess.Popen(spin, stdout=subprocess.PIPE) for _ in range(CORES)]
    try:
        for process in busy:  # each spins once it has printed its line
            process.stdout.readline()
        assert threads.busy_cores(0.5) > CORES - 0.5
        assert threads.default_threads() == 1
        assert threads.plan(None, 2) == threads.ThreadPlan(1, 1)
    finally:
        for process in busy:
            process.kill()
            process.wait()


def test_environment_settings(monkeypatch):
    monkeypatch.setenv("AVPET_THREADS", "3")
    assert threads.default_threads() == 3 and threads.plan(None, 1).torch == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.plan(None, 1) == threads.ThreadPlan(1, 1)  # OMP caps torch's share
    monkeypatch.setenv("AVPET_THREADS", "-2")
    with pytest.raises(ConfigError, match="AVPET_THREADS"):
        threads.default_threads()
    with pytest.raises(ConfigError, match="--threads"):
        threads.plan(0)


def test_every_command_that_runs_a_model_takes_threads(capsys):
    for command in (["extract"], ["sync"], ["index"], ["search"], ["eval", "grid"], ["pretrain"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "--threads N" in capsys.readouterr().out, command


@pytest.mark.slow
def test_sync_runs_at_the_threads_asked_for(capsys):
    clip = str(REPO_ROOT / "examples" / "grid_s1_bbaf2n.mp4")
    assert main(["sync", clip, "--threads", "1"]) == 0
    assert torch.get_num_threads() == 1 and "offset" in capsys.readouterr().out
    assert main(["sync", clip, "--threads", "0"]) == 3
    assert "--threads must be >= 1" in capsys.readouterr().err

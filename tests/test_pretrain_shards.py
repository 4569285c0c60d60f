"""Pretraining streamed from shards of real GRID videos, in real processes:

* one process decoding in two loader workers, killed with SIGKILL mid-epoch and resumed, logs
  the losses of an uninterrupted run bitwise (the resumed epoch starts at an odd batch, so the
  second worker's batch comes first);
* two torchrun launchers on 127.0.0.1 (``--nnodes 2``, c10d rendezvous, gloo) train, are killed
  together, resume together and log the uninterrupted losses; a resume with another number of
  ranks stops with one clear error.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import descendants, free_port, wait_gone

from avpet.cli import main
from avpet.data.grid import GRID_MOUTH
from avpet.pretrain.checkpoint import load_checkpoint
from avpet.pretrain.metrics import read_metrics

pytestmark = pytest.mark.slow

MODEL = "avpet_small_mid_lowrank"


@pytest.fixture(scope="module")
def shards(data_dir, tmp_path_factory) -> Path:
    """12 real GRID videos in 6 shards of 2."""
    folder = tmp_path_factory.mktemp("grid")
    manifest = folder / "train.txt"
    videos = sorted((data_dir / "grid_s1" / "video").glob("*.mp4"))[:12]
    manifest.write_text("".join(f"{v}\n" for v in videos))
    out = folder / "shards"
    assert main(["shard", str(manifest), "--out", str(out), "--max-count", "2"]) == 0
    return out


def _args(out_dir: Path, shards: Path, *overrides: str) -> list[str]:
    return [
        "-m",
        "avpet.pretrain",
        f"data.train={shards}",
        f"train.out_dir={out_dir}",
        "train.device=cpu",
        "train.batch_size=2",
        "train.log_every=1",
        "optim.warmup_steps=1",
        f"model.name={MODEL}",
        f"data.roi={list(GRID_MOUTH)}",
        *overrides,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _pretrain(out: Path, shards: Path, *overrides: str) -> subprocess.CompletedProcess:
    """One plain process of ``python -m avpet.pretrain``, run to its end."""
    cmd = [sys.executable, *_args(out, shards, *overrides)]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)


def _run_all(cmds: list[list[str]], timeout: float = 400) -> list[str]:
    """Run ``cmds`` side by side; each must succeed; their outputs."""
    jobs = [
        subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd in cmds
    ]
    outputs = []
    for job in jobs:
        out, err = job.communicate(timeout=timeout)
        assert job.returncode == 0, err[-4000:]
        outputs.append(out)
    return outputs


def _kill_after(cmds: list[list[str]], metrics: Path, lines: int) -> None:
    """Start ``cmds``, and once ``metrics`` has ``lines`` lines SIGKILL every process they
    started at once (a machine failure)."""
    jobs = [
        subprocess.Popen(
            cmd,
            env=_env(),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for cmd in cmds
    ]
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and all(job.poll() is None for job in jobs):
            if metrics.exists() and len(metrics.read_text().splitlines()) >= lines:
                break
            time.sleep(0.05)
        assert all(job.poll() is None for job in jobs), "the run ended before it could be killed"
        pids = [p for job in jobs for p in descendants(job.pid)]
        for pid in [*pids, *(job.pid for job in jobs)]:
            os.kill(pid, signal.SIGKILL)
    finally:
        for job in jobs:
            job.kill()
            job.wait(timeout=60)
    wait_gone(pids)


def _losses(out: Path) -> list[tuple[int, float, float]]:
    return [(r["step"], r["loss"], r["cpp"]) for r in read_metrics(out / "metrics.jsonl")]


def test_sigkill_mid_epoch_then_resume_streams_the_uninterrupted_batches(shards, tmp_path):
    # 2 workers x 6 samples per epoch = 6 batches of 2; checkpoints every 3 steps fall mid-epoch
    # at an odd batch; 8 steps cross into the second epoch.
    steps = ("train.max_steps=8", "train.ckpt_every=3", "data.num_workers=2")
    reference = tmp_path / "reference"
    _run_all([[sys.executable, *_args(reference, shards, *steps)]])
    expected = _losses(reference)
    assert [step for step, *_ in expected] == list(range(1, 9))

    out = tmp_path / "killed"
    _kill_after([[sys.executable, *_args(out, shards, *steps)]], out / "metrics.jsonl", 4)
    last = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
    state = load_checkpoint(last)
    assert last.name == "step_00000003.pt" and state["data"]["batch"] == 3
    assert [len(t) for t in state["data"]["taken"]] == [2]  # one rank, two workers' positions
    (printed,) = _run_all([[sys.executable, *_args(out, shards, *steps, "--resume")]])
    assert f"resumed from {last} at step 3" in printed
    assert _losses(out) == expected


def _two_nodes(out: Path, shards: Path, *overrides: str) -> list[list[str]]:
    """Two torchrun launchers, one rank each, meeting at a c10d rendezvous on 127.0.0.1."""
    endpoint = f"127.0.0.1:{free_port()}"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2"]
    launcher += ["--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint]
    launcher += ["--rdzv-id", out.name, "--local-addr", "127.0.0.1"]
    return [[*launcher, *_args(out, shards, *overrides)] for _ in range(2)]


def test_two_nodes_train_checkpoint_and_resume_together(shards, tmp_path):
    # 2 ranks x 1 worker x 6 samples = 3 batches of 2 per rank and epoch; 5 steps cross into the
    # second epoch; checkpoints every 2 steps.
    steps = ("train.max_steps=5", "train.ckpt_every=2", "data.num_workers=1")
    reference = tmp_path / "reference"
    _run_all(_two_nodes(reference, shards, *steps))
    expected = _losses(reference)
    assert [step for step, *_ in expected] == list(range(1, 6))
    assert load_checkpoint(reference / "checkpoints" / "step_00000005.pt")["world_size"] == 2

    out = tmp_path / "killed"
    _kill_after(_two_nodes(out, shards, *steps), out / "metrics.jsonl", 3)
    last = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
    assert last.name in ("step_00000002.pt", "step_00000004.pt")
    printed = "".join(_run_all(_two_nodes(out, shards, *steps, "--resume")))
    assert f"resumed from {last}" in printed
    assert _losses(out) == expected

    alone = _pretrain(out, shards, *steps, "--resume")
    assert alone.returncode == 3, alone.stderr[-2000:]
    assert "written by 2 ranks; resume it with the same number" in alone.stderr
    assert "Traceback" not in alone.stderr


def test_an_unreachable_shard_is_skipped_by_name_or_stops_the_run_with_one_error(shards, tmp_path):
    broken = tmp_path / "shards"
    shutil.copytree(shards, broken)
    (broken / "shard-000003.tar").unlink()
    run = ("train.max_steps=3", "data.num_workers=1")  # the error happens in a worker process
    stopped = _pretrain(tmp_path / "stop", broken, *run, "data.skip_bad_files=false")
    assert stopped.returncode == 3, stopped.stderr[-2000:]
    assert "shard-000003.tar: cannot read the shard" in stopped.stderr
    assert "Traceback" not in stopped.stderr

    went_on = _pretrain(tmp_path / "skip", broken, *run)
    assert went_on.returncode == 0, went_on.stderr[-2000:]
    assert "skipping unreadable shard" in went_on.stderr and "shard-000003.tar" in went_on.stderr
    assert [r["step"] for r in read_metrics(tmp_path / "skip" / "metrics.jsonl")] == [1, 2, 3]

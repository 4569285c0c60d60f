"""Real multi-process pretraining on GRID clips: 2 gloo ranks under torchrun.

* the loss falls on a few real videos decoded by avpet.data, and the export loads as a model;
* a run killed with SIGKILL mid-training and resumed logs the same losses as an uninterrupted one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import descendants, grid_manifest, wait_gone

import avpet
from avpet.data.cache import build_cache
from avpet.data.grid import GRID_MOUTH
from avpet.pretrain.checkpoint import latest_checkpoint, load_checkpoint
from avpet.pretrain.metrics import read_metrics

pytestmark = pytest.mark.slow

MODEL = "avpet_small_mid_lowrank"


def _torchrun(out_dir: Path, train: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "avpet.pretrain",
        f"data.train={train}",
        f"train.out_dir={out_dir}",
        "train.device=cpu",
        "train.batch_size=2",
        "train.log_every=1",
        "data.num_workers=0",
        "optim.warmup_steps=1",
        f"model.name={MODEL}",
        *overrides,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _run(cmd: list[str], timeout: float = 300) -> str:
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Warning" not in done.stderr, done.stderr[-4000:]  # none on every rank, every step
    return done.stdout


@pytest.fixture(scope="module")
def grid_cache(data_dir, tmp_path_factory) -> Path:
    """12 real GRID sequences decoded once for the small model (mouth region): 3 steps of
    2 ranks x 2 sequences per epoch, so checkpoints every 2 steps fall mid-epoch."""
    out = tmp_path_factory.mktemp("cache") / "grid12.safetensors"
    return build_cache(data_dir / "grid_s1" / "video", MODEL, out, limit=12, roi=GRID_MOUTH)


def test_two_ranks_loss_falls_on_grid_videos_and_export_loads(data_dir, tmp_path):
    manifest = grid_manifest(data_dir, tmp_path, 4)
    out = tmp_path / "run"
    steps = 16
    _run(
        _torchrun(
            out,
            manifest,
            f"train.max_steps={steps}",
            f"train.ckpt_every={steps}",
            f"data.roi={list(GRID_MOUTH)}",
            "data.augment=false",
            "optim.lr=1e-3",
            "optim.warmup_steps=2",
        ),
        timeout=600,
    )
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, steps + 1))

    def first_and_last(key: str) -> tuple[float, float]:
        values = [r[key] for r in records]
        return sum(values[:4]) / 4, sum(values[-4:]) / 4

    first, last = first_and_last("loss")
    assert last < first, [r["loss"] for r in records]
    first, last = first_and_last("mep")  # CPP on 2 sequences per rank is too noisy to trend
    assert last < 0.85 * first, [r["mep"] for r in records]

    final = out / "final"
    assert sorted(p.name for p in final.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    model = avpet.create_model(MODEL, pretrained=f"local-dir:{final}")
    trained = load_checkpoint(latest_checkpoint(out / "checkpoints"))["model"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, trained[f"backbone.{name}"], rtol=0, atol=0)


def test_sigkill_then_resume_gives_the_uninterrupted_losses(grid_cache, tmp_path):
    steps = ("train.max_steps=8", "train.ckpt_every=2", "train.keep_last=2")
    reference = tmp_path / "reference"
    _run(_torchrun(reference, grid_cache, *steps))
    expected = [(r["step"], r["loss"], r["cpp"]) for r in read_metrics(reference / "metrics.jsonl")]
    assert [step for step, *_ in expected] == list(range(1, 9))

    out = tmp_path / "killed"
    job = subprocess.Popen(
        _torchrun(out, grid_cache, *steps),
        env=_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and job.poll() is None:
            if metrics.exists() and len(metrics.read_text().splitlines()) >= 5:
                break
            time.sleep(0.05)
        assert job.poll() is None, "the run ended before it could be killed"
        ranks = descendants(job.pid)
        assert len(ranks) >= 2, "torchrun has not started its two ranks"
        for pid in [*ranks, job.pid]:  # a machine failure: every process dies at once
            os.kill(pid, signal.SIGKILL)
    finally:
        job.kill()
        job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL
    wait_gone(ranks)
    saved = sorted(p.name for p in (out / "checkpoints").glob("step_*.pt"))
    assert saved and "step_00000008.pt" not in saved  # killed mid-training

    last = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
    assert load_checkpoint(last)["data"]["batch"] > 0  # resuming mid-epoch
    assert f"resumed from {last} at step {int(last.stem[5:])}" in _run(
        _torchrun(out, grid_cache, *steps, "--resume")
    )
    resumed = [(r["step"], r["loss"], r["cpp"]) for r in read_metrics(metrics)]
    assert resumed == expected

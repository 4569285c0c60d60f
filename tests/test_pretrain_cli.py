"""``python -m avpet.pretrain`` in one process: a short run, resume, and a corrupt checkpoint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from avpet.data.cache import build_cache
from avpet.pretrain.cli import main
from avpet.pretrain.metrics import read_metrics

pytestmark = pytest.mark.slow

MODEL = "avpet_small_mid_lowrank"


@pytest.fixture(scope="module")
def grid_cache(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "grid4.safetensors"
    return build_cache(data_dir / "grid_s1" / "video", MODEL, out, limit=4)


def _args(cache, out, steps: int) -> list[str]:
    return [
        f"data.train={cache}",
        f"train.out_dir={out}",
        "train.device=cpu",
        "train.batch_size=2",
        "train.log_every=1",
        "train.ckpt_every=1",
        "data.num_workers=0",
        f"train.max_steps={steps}",
        "optim.warmup_steps=0",
        "--train.grad_accum",
        "2",
    ]


def test_single_process_run_resume_and_corrupt_checkpoint(grid_cache, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(grid_cache, out, 2)) == 0
    checkpoints = out / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step_00000001.pt", "step_00000002.pt"]
    assert json.loads((out / "config.json").read_text())["train"]["grad_accum"] == 2
    assert (out / "final" / "model.safetensors").is_file()
    first = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in first] == [1, 2]
    assert all(r["epoch"] == r["step"] - 1 for r in first)  # 2 micro-batches of 2 = one epoch

    latest = checkpoints / "step_00000002.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    capsys.readouterr()
    assert main([*_args(grid_cache, out, 3), "--resume"]) == 3
    error = capsys.readouterr().err
    assert str(latest) in error and "corrupt or truncated" in error
    assert "step_00000001.pt" in error and "intact" in error

    intact = f"--resume-from={checkpoints / 'step_00000001.pt'}"
    # a longer run would keep the checkpoint's schedule silently: refused, naming the change
    assert main([*_args(grid_cache, out, 3), intact]) != 0
    assert "another learning-rate schedule (train.max_steps: 2 -> 3)" in capsys.readouterr().err
    assert main([*_args(grid_cache, out, 2), intact]) == 0
    assert f"resumed from {checkpoints / 'step_00000001.pt'} at step 1" in capsys.readouterr().out
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    timeless = [{k: v for k, v in r.items() if k != "sec_per_step"} for r in (*first, *records)]
    assert timeless[2:] == timeless[:2]  # step 2 again, exactly


def test_a_fresh_run_never_replaces_an_earlier_one(grid_cache, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(grid_cache, out, 2)) == 0
    metrics = (out / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main(_args(grid_cache, out, 1)) == 3
    error = capsys.readouterr().err
    assert "holds an earlier run" in error and "--resume" in error and "--overwrite" in error
    assert (out / "metrics.jsonl").read_text() == metrics
    assert len(list((out / "checkpoints").iterdir())) == 2
    assert main([*_args(grid_cache, out, 1), "--overwrite"]) == 0
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_00000001.pt"]
    with pytest.raises(SystemExit) as usage:
        main([*_args(grid_cache, out, 1), "--overwrite", "--resume"])
    assert usage.value.code == 2


@pytest.mark.parametrize("out_dir", ["a_file", ""])
def test_out_dir_must_name_a_folder(grid_cache, tmp_path, monkeypatch, capsys, out_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x")
    assert main([*_args(grid_cache, out_dir, 1)]) == 3
    error = capsys.readouterr().err
    assert "a_file: is a file" in error if out_dir else "train.out_dir must not be empty" in error
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_a_diverging_run_stops_before_non_finite_weights(grid_cache, tmp_path, capsys):
    """lr 1e30 blows the weights up after one step; the next loss is not finite and the run stops
    with one line (exit 3) before any NaN reaches the weights or a checkpoint."""
    out = tmp_path / "run"
    assert main([*_args(grid_cache, out, 4), "optim.lr=1e30", "optim.warmup_steps=0"]) == 3
    error = capsys.readouterr().err
    assert re.search(r"avpet.pretrain: error: step \d: non-finite \{.*'loss': nan", error)
    assert "Traceback" not in error and not (out / "final").exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (user namespaces)")
def test_a_full_disk_during_training_is_one_line(grid_cache, tmp_path):
    """The run folder on a 2 MiB tmpfs (a private mount namespace): the first checkpoint does not
    fit; the run stops with exit 3 naming it and the reason, and leaves no temporary behind."""
    disk = tmp_path / "disk"
    disk.mkdir()
    args = " ".join(_args(grid_cache, disk / "run", 2))
    command = (
        f"mount -t tmpfs -o size=2m tmpfs {disk} && "
        f"{sys.executable} -m avpet.pretrain {args}; echo rc=$?; ls -A {disk}/run/checkpoints"
    )
    done = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True)
    if "mount" in done.stderr and "rc=" not in done.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.stdout.split() == ["rc=3"], done.stderr[-3000:]
    assert "step_00000001.pt: cannot write (No space left on device)" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main([f"data.train={tmp_path / 'nowhere'}", f"train.out_dir={tmp_path}"]) == 3
    assert "nowhere: data.train does not exist" in capsys.readouterr().err

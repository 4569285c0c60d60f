"""``python -m avpet.pretrain`` in one process: a short run, resume, and a corrupt checkpoint."""

from __future__ import annotations

import json

import pytest

from avpet.pretrain.__main__ import main
from avpet.pretrain.cache import build_cache
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

    assert (
        main([*_args(grid_cache, out, 3), f"--resume-from={checkpoints / 'step_00000001.pt'}"]) == 0
    )
    assert f"resumed from {checkpoints / 'step_00000001.pt'} at step 1" in capsys.readouterr().out
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[0] == first[0]


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main([f"data.train={tmp_path / 'nowhere'}", f"train.out_dir={tmp_path}"]) == 3
    assert "nowhere: data.train does not exist" in capsys.readouterr().err

"""The contrastive task, and ``python -m avpet.pretrain`` on the peers (VATT, MMV): their
objective, their audio input from videos and clip caches, a short run on real GRID clips, its
export, exact resume and two ranks."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from conftest import grid_manifest
from test_pretrain_cli import _args
from test_pretrain_ddp import _run, _torchrun

import avpet
from avpet.config import InputSpec
from avpet.data import VideoDataset, resolve_data_config
from avpet.data.cache import ClipFile, build_cache
from avpet.errors import ConfigError, MediaError
from avpet.pretrain import checkpoint
from avpet.pretrain.cli import main
from avpet.pretrain.config import TASK_NAMES, load_config
from avpet.pretrain.metrics import read_metrics
from avpet.pretrain.tasks import TASKS, AVBertPretrainer, ContrastiveTask, create_task

PEERS = ("vatt_small", "mmv_small_tsm_fac")


def test_contrastive_section_loads_and_overrides(tmp_path):
    cfg = load_config(None, ["contrastive.va_weight=2", "contrastive.temperature=0.1"])
    loss = cfg.contrastive
    assert (loss.va_weight, loss.vt_weight, loss.temperature) == (2.0, 1.0, 0.1)
    (tmp_path / "c.json").write_text(json.dumps({"contrastive": {"vt_weight": 0}}))
    assert load_config(tmp_path / "c.json").contrastive.vt_weight == 0.0
    for override, message in [
        ("contrastive.va_weight=-1", "contrastive.va_weight"),
        ("contrastive.temperature=0", "contrastive.temperature"),
        ("contrastive.margin=1", r"unknown field\(s\) contrastive.margin; fields of "),
        ("task.name=mep", "task.name"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])


def test_the_task_table_matches_the_config_names():
    assert tuple(TASKS) == TASK_NAMES


def test_the_backbone_picks_the_task_unless_the_config_names_one():
    cfg = load_config(None, ["contrastive.va_weight=2"])
    for name in PEERS:
        task = create_task(avpet.create_model(name), cfg)
        assert isinstance(task.module, ContrastiveTask)
        assert task.module.loss_cfg == cfg.contrastive and task.find_unused_parameters
    avbert = avpet.create_model("avpet_small_mid_lowrank")
    task = create_task(avbert, cfg)
    assert isinstance(task.module, AVBertPretrainer) and not task.find_unused_parameters
    # any model with a joint level can be trained contrastively; the avbert task needs AVBERT
    contrastive = create_task(avbert, load_config(None, ["task.name=contrastive"]))
    assert isinstance(contrastive.module, ContrastiveTask)
    visual, audio = torch.randn(2, 4, 3, 8, 64, 64), torch.randn(2, 4, 1, 48, 96)
    losses = contrastive.module(visual, audio)
    assert losses["loss"].isfinite() and losses["loss"] == losses["nce_va"]
    with pytest.raises(ConfigError, match="task.name=contrastive"):
        create_task(avpet.create_model("vatt_small"), load_config(None, ["task.name=avbert"]))
    with pytest.raises(ConfigError, match="nothing to contrast"):
        create_task(avpet.create_model("vatt_base"), cfg)


def test_audio_format_is_checked():
    with pytest.raises(ConfigError, match="audio_format"):
        InputSpec(audio_format="mp3")


@pytest.mark.parametrize("name", PEERS)
def test_videos_and_caches_give_each_peer_its_audio(name, data_dir, tmp_path):
    """VATT gets the clip's waveform [S], MMV its log-mel [1, M, L], from videos and caches."""
    backbone = avpet.create_model(name).eval()
    spec = backbone.pretrained_cfg.input
    # one clip per sequence: 0.64 s of 16 kHz audio, as 10240 samples or 48 mel bins x 96 frames
    expected = (1, 10240) if name.startswith("vatt") else (1, 1, 48, 96)
    assert spec.audio_shape == expected
    manifest = grid_manifest(data_dir, tmp_path, 2)
    item = VideoDataset(manifest, resolve_data_config(spec), is_training=True)[0]
    assert tuple(item["audio"].shape) == expected and item["audio"].abs().sum() > 0
    clips = ClipFile(build_cache(manifest, name, tmp_path / "c.safetensors", limit=2), spec)
    assert tuple(clips.audio.shape) == (2, *expected)
    with torch.no_grad():
        out = backbone.forward_features(visual=clips.visual, audio=clips.audio)
    assert out["visual_joint"].shape[:2] == out["audio_joint"].shape[:2] == (2, 1)

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(MediaError, match="broken.mp4"):
        VideoDataset(tmp_path / "bad", resolve_data_config(spec))[0]


class _Crash(Exception):
    """Stands in for a machine failure in the middle of a run."""


@pytest.mark.parametrize("name", PEERS)
def test_peer_pretrains_exports_and_resumes_exactly(name, data_dir, tmp_path, monkeypatch):
    """3 steps (2 micro-batches of 2 clips each) on 6 GRID videos: VATT decodes the videos,
    MMV reads a clip cache. A run that dies after step 1 and is resumed logs the same losses."""
    manifest = grid_manifest(data_dir, tmp_path, 6)
    if name.startswith("mmv"):
        train = build_cache(manifest, name, tmp_path / "clips.safetensors")
    else:
        train = manifest

    def args(out) -> list[str]:
        return [*_args(train, out, 3), f"model.name={name}"]

    reference = tmp_path / "reference"
    assert main(args(reference)) == 0
    records = read_metrics(reference / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and r["loss"] == r["nce_va"] for r in records)
    final = reference / "final"
    model = avpet.create_model(name, pretrained=f"local-dir:{final}")
    trained = checkpoint.load_checkpoint(checkpoint.latest_checkpoint(reference / "checkpoints"))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, trained["model"][f"backbone.{key}"], rtol=0, atol=0)
    assert "contrastive NCE" in (final / "README.md").read_text()

    save = checkpoint.save_checkpoint

    def crash_at_step_2(state, *rest):
        if state["step"] == 2:
            raise _Crash
        return save(state, *rest)

    out = tmp_path / "interrupted"
    monkeypatch.setattr(checkpoint, "save_checkpoint", crash_at_step_2)
    with pytest.raises(_Crash):
        main(args(out))
    monkeypatch.setattr(checkpoint, "save_checkpoint", save)
    saved = checkpoint.load_checkpoint(checkpoint.latest_checkpoint(out / "checkpoints"))
    assert saved["step"] == 1 and saved["data"]["batch"] == 2  # mid-epoch: 3 batches of 6
    assert main([*args(out), "--resume"]) == 0

    def losses(run) -> list[tuple]:
        keys = ("step", "loss", "nce_va", "grad_norm", "lr", "epoch")
        return [tuple(r[k] for k in keys) for r in read_metrics(run / "metrics.jsonl")]

    assert losses(out) == losses(reference)


@pytest.mark.slow
def test_two_ranks_pretrain_a_peer(data_dir, tmp_path):
    """DDP over 2 gloo ranks: the text tower gets no gradient without text, which DDP must allow
    (``find_unused_parameters``); the export loads."""
    out = tmp_path / "run"
    _run(
        _torchrun(
            out,
            grid_manifest(data_dir, tmp_path, 4),
            "model.name=vatt_small",
            "train.max_steps=2",
            "train.ckpt_every=2",
        )
    )
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(r["nce_va"]) for r in records)
    avpet.create_model("vatt_small", pretrained=f"local-dir:{out / 'final'}")


def test_a_peer_trains_on_avbert_sequences(data_dir, tmp_path, monkeypatch):
    """``--num-clips 4`` caches and ``data.num_clips=4`` train a peer on AVBERT's sequences: each
    micro-batch of 2 sequences is contrasted as 8 clips; the exported model keeps one clip."""
    name = "mmv_small_tsm_fac"
    manifest = grid_manifest(data_dir, tmp_path, 4)
    cache = build_cache(manifest, name, tmp_path / "seq.safetensors", num_clips=4)
    spec = avpet.create_model(name).pretrained_cfg.input
    assert tuple(ClipFile(cache, replace(spec, num_clips=4)).visual.shape[:2]) == (4, 4)
    with pytest.raises(ConfigError, match=r"visual clips are \(4, 3, 8, 64, 64\)"):
        ClipFile(cache, spec)
    with pytest.raises(ConfigError, match="num_clips must be in 1..21"):
        build_cache(manifest, name, tmp_path / "none.safetensors", num_clips=0)

    contrasted = []
    forward = ContrastiveTask.forward

    def spy(self, visual, audio, text=None):
        contrasted.append(visual.shape[:2])
        return forward(self, visual, audio, text)

    monkeypatch.setattr(ContrastiveTask, "forward", spy)
    out = tmp_path / "run"
    assert main([*_args(cache, out, 1), f"model.name={name}", "data.num_clips=4"]) == 0
    assert contrasted == [(2, 4), (2, 4)]  # two micro-batches of 2 sequences x 4 clips
    model = avpet.create_model(name, pretrained=f"local-dir:{out / 'final'}")
    assert model.pretrained_cfg.input.num_clips == 1
    assert main([*_args(cache, tmp_path / "bad", 1), f"model.name={name}"]) != 0

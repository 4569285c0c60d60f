"""The Hub habits people have: an unreachable Hub fails fast, ``avpet push`` publishes a run with
its licence, datasets, base model and measured metrics in the card's YAML, and every Hub failure
is an avpet error."""

from __future__ import annotations

import json
import socket
import tempfile
import time
from pathlib import Path

import pytest
import torch
import yaml
from hub_server import HubServer, point_huggingface_hub_at

import avpet
from avpet.cli import main
from avpet.errors import HubError
from avpet.hub import load_pretrained, push_to_hub, save_pretrained
from avpet.hub.card import public_text
from avpet.hub.repo import upload_folder

NAME = "avpet_small_mid_lowrank"


@pytest.fixture(params=["refused", "hanging"])
def unreachable(request):
    """An endpoint whose connections are refused at once, or hang (a listening socket whose
    accept queue is full: the kernel drops further SYNs, as a firewall does)."""
    if request.param == "refused":
        yield "http://127.0.0.1:9"
        return
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        queued = []
        for _ in range(3):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            queued.append(client)
        time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
        for client in queued:
            client.close()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with HubServer() as server:
        point_huggingface_hub_at(monkeypatch, server.url, tmp_path / "hf_home")
        yield server


def _card_yaml(text: bytes) -> dict:
    return yaml.safe_load(text.decode().split("---")[1])


def test_unreachable_hub_fails_within_two_seconds(unreachable, monkeypatch, tmp_path):
    """Timed from the call that needs the Hub (building the model is not waiting for it)."""
    point_huggingface_hub_at(monkeypatch, unreachable, tmp_path / "hf_home")
    model = avpet.create_model(NAME)
    started = time.monotonic()
    with pytest.raises(HubError, match="not in the local cache .* the Hub is unreachable"):
        load_pretrained(model, "hf-hub:avpet/absent")
    assert time.monotonic() - started <= 2.0
    with tempfile.TemporaryDirectory() as folder:
        save_pretrained(model, folder)
        started = time.monotonic()
        with pytest.raises(HubError, match="cannot push: the Hub is unreachable"):
            upload_folder(folder, "someone/x", commit_message="x")
        assert time.monotonic() - started <= 2.0


def test_push_with_hub_offline_is_a_hub_error(monkeypatch, tmp_path):
    with HubServer() as server:
        point_huggingface_hub_at(monkeypatch, server.url, tmp_path / "hf_home", offline=True)
        with pytest.raises(HubError, match="cannot push: HF_HUB_OFFLINE is set"):
            push_to_hub(avpet.create_model(NAME), "someone/x")
        assert server.requests == []


def test_push_refused_by_the_server_is_a_hub_error(hub, monkeypatch):
    monkeypatch.setattr(hub, "repos", None)  # the server answers 500 to everything
    with pytest.raises(HubError, match=r"hf-hub:someone/x \(http://127.0.0.1:\d+\): push failed"):
        push_to_hub(avpet.create_model(NAME), "someone/x")


def test_cards_publish_no_absolute_paths():
    text = "pretrained on /tmp/pytest-7/videos/clips (local-dir:/home/me/runs/a/final)"
    assert public_text(text) == "pretrained on videos/clips (local-dir:a/final)"
    assert public_text("see http://127.0.0.1:8/x/y and runs/a/final") == (
        "see http://127.0.0.1:8/x/y and runs/a/final"
    )


def _run_folder(tmp_path: Path) -> Path:
    """A pretraining run as ``python -m avpet.pretrain`` leaves it, with two evaluations."""
    from avpet.hub.export import run_pretrained_cfg
    from avpet.pretrain.config import load_config

    run = tmp_path / "my_run"
    torch.manual_seed(3)
    model = avpet.create_model(NAME)
    recipe = load_config(None, [f"data.train={tmp_path / 'my videos'}", f"train.out_dir={run}"])
    model.pretrained_cfg = run_pretrained_cfg(model.pretrained_cfg, recipe, "MEP + CPP", 3, 2)
    save_pretrained(model, run / "final")
    ours = {"task": "grid", "model": NAME, "pretrained": f"local-dir:{run / 'final'}", "seed": 0}
    (run / "eval_grid.json").write_text(
        "progress...\n" + json.dumps({**ours, "level": "select", "a2v_r1": 0.5, "seconds": 9.0})
    )
    random_init = {**ours, "pretrained": False, "a2v_r1": 0.01}
    (run / "eval_grid_random.json").write_text(json.dumps(random_init))
    return run


def test_avpet_push_publishes_a_run_with_its_card_metadata(hub, tmp_path, capsys):
    run = _run_folder(tmp_path)
    argv = ["push", str(run), "--repo", "me/my-avbert"]
    assert main(argv) != 0  # a run's export names no licence: its data decide
    assert "name no licence; give one with --license" in capsys.readouterr().err
    assert "me/my-avbert" not in hub.repos
    assert (
        main([*argv, "--license", "cc-by-4.0", "--datasets", "grid", "--base-model", "avpet/base"])
        == 0
    )
    assert "pushed" in capsys.readouterr().out
    repo = hub.repos["me/my-avbert"]
    files = repo.commits[repo.branches["main"]]
    meta = _card_yaml(files["README.md"])
    assert meta["license"] == "cc-by-4.0" and meta["datasets"] == ["grid"]
    assert meta["base_model"] == "avpet/base"
    results = meta["model-index"][0]["results"]
    found = [(r["dataset"]["name"], m["name"], m["value"]) for r in results for m in r["metrics"]]
    assert found == [("GRID", "a2v_r1", 0.5)]  # the run's own evaluation, not the random init
    card = files["README.md"].decode()
    assert str(tmp_path) not in card and str(tmp_path) not in files["config.json"].decode()
    assert "on my videos (3 steps, 2 ranks)" in card
    loaded = avpet.create_model(NAME, pretrained="hf-hub:me/my-avbert")
    assert loaded.pretrained_cfg.license == "cc-by-4.0"
    assert loaded.pretrained_cfg.hf_hub_id == "me/my-avbert"

"""The Hub settings a user sets in the environment, read by huggingface_hub at import in a fresh
process, and a real Hub mirror (olah, offline mode, serving local git repos) as the endpoint."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, free_port
from hub_server import HubServer, point_huggingface_hub_at

import avpet
from avpet.errors import HubError
from avpet.hub import save_pretrained

NAME = "avpet_small_mid_lowrank"

LOAD = """
import sys, torch, avpet
model = avpet.create_model("avpet_small_mid_lowrank", pretrained=sys.argv[1])
print(float(sum(p.double().sum() for p in model.state_dict().values() if p.is_floating_point())))
"""


def _weights_checksum(model: torch.nn.Module) -> float:
    values = model.state_dict().values()
    return float(sum(p.double().sum() for p in values if p.is_floating_point()))


def _load_in_subprocess(source: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")} | env
    return subprocess.run(
        [sys.executable, "-c", LOAD, source],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def repo_folder(tmp_path_factory) -> tuple[float, Path]:
    torch.manual_seed(7)
    model = avpet.create_model(NAME)
    folder = save_pretrained(model, tmp_path_factory.mktemp("hub") / f"{NAME}.mirror")
    return _weights_checksum(model), folder


@pytest.mark.slow
def test_environment_variables_in_a_fresh_process(repo_folder, tmp_path):
    """HF_ENDPOINT and HF_HOME pick the server and the cache; HF_HUB_OFFLINE=1 then needs no
    server at all, and a repo missing from the cache fails with one clear error."""
    checksum, folder = repo_folder
    home = tmp_path / "hf_home"
    with HubServer() as hub:
        hub.publish("avpet/small", folder)
        online = _load_in_subprocess(
            "hf-hub:avpet/small", {"HF_ENDPOINT": hub.url, "HF_HOME": str(home)}
        )
        assert online.returncode == 0, online.stderr
        assert float(online.stdout.split()[-1]) == pytest.approx(checksum, rel=1e-12)
        assert any(p.name == "model.safetensors" for p in (home / "hub").rglob("*"))
        requests = len(hub.requests)
    # the server is gone: offline mode must be served from HF_HOME alone
    offline_env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    offline = _load_in_subprocess("hf-hub:avpet/small", offline_env)
    assert offline.returncode == 0, offline.stderr
    assert float(offline.stdout.split()[-1]) == pytest.approx(checksum, rel=1e-12)
    assert len(hub.requests) == requests
    miss = _load_in_subprocess("hf-hub:avpet/never-downloaded", offline_env)
    assert miss.returncode != 0
    assert "avpet.errors.HubError: hf-hub:avpet/never-downloaded" in miss.stderr
    assert "not in the local cache" in miss.stderr and "HF_HUB_OFFLINE is set" in miss.stderr


# ---- olah, a real Hub mirror --------------------------------------------------------------------


def _olah_cli() -> str | None:
    return os.environ.get("AVPET_OLAH_CLI") or shutil.which("olah-cli")


def _git_repo(folder: Path, target: Path) -> str:
    """``folder``'s files as a one-commit (non-bare) git repo at ``target``; returns the commit."""
    shutil.copytree(folder, target)
    git = ["git", "-C", str(target), "-c", "user.name=avpet", "-c", "user.email=avpet@localhost"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(target)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "publish"], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def olah(tmp_path):
    """An olah mirror in offline mode on 127.0.0.1 serving ``tmp_path/mirrors``."""
    cli = _olah_cli()
    if cli is None:
        pytest.skip("olah-cli not found: set AVPET_OLAH_CLI (see docs/hub.md; CI installs it)")
    port = free_port()
    mirrors = tmp_path / "mirrors"
    (mirrors / "models").mkdir(parents=True)
    config = tmp_path / "olah.toml"
    config.write_text(
        "[basic]\n"
        f'host = "127.0.0.1"\nport = {port}\n'
        f'repos-path = "{tmp_path / "repos"}"\n'
        f'mirror-netloc = "127.0.0.1:{port}"\nmirror-lfs-netloc = "127.0.0.1:{port}"\n'
        f'mirrors-path = ["{mirrors}"]\n'
        "[accessibility]\noffline = true\n"
    )
    log = (tmp_path / "olah.log").open("w")
    process = subprocess.Popen(
        [cli, "-c", str(config)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"olah did not start: {(tmp_path / 'olah.log').read_text()[-2000:]}"
                    )
                time.sleep(0.2)
        yield url, mirrors / "models"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_olah_mirror_serves_a_published_repo(olah, repo_folder, monkeypatch, tmp_path):
    url, models = olah
    checksum, folder = repo_folder
    commit = _git_repo(folder, models / "avpet" / "small")
    point_huggingface_hub_at(monkeypatch, url, tmp_path / "hf_home")
    for source in ("hf-hub:avpet/small", f"hf-hub:avpet/small@{commit}"):
        model = avpet.create_model(NAME, pretrained=source)
        assert _weights_checksum(model) == pytest.approx(checksum, rel=1e-12)
    snapshots = tmp_path / "hf_home" / "hub" / "models--avpet--small" / "snapshots"
    assert [p.name for p in snapshots.iterdir()] == [commit]
    # olah answers RepoNotFound for an unknown repo (and, its quirk, for a missing file too)
    with pytest.raises(HubError, match="hf-hub:avpet/absent .*repository not found"):
        avpet.create_model(NAME, pretrained="hf-hub:avpet/absent")

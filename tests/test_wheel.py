"""The built wheel, installed outside the repository with an empty Hub cache and
``HF_HUB_OFFLINE=1``: the published weights travel inside it, and the README's first command,
``avpet extract --model NAME.TAG`` and ``create_model(NAME.TAG, pretrained=True)`` run with no
weights flag."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO_ROOT, docs_env

import avpet

pytestmark = pytest.mark.slow

PUBLISHED = [
    name
    for name in avpet.list_models(pretrained=True)
    if (avpet.get_pretrained_cfg(name).hf_hub_id or "").startswith("avpet/")
]
MAX_WHEEL_MB = 40  # two 14-MB models and the code; a stray folder of hub/ would show here


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (the checkout's build/ stays untouched)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO_ROOT / "avpet", src / "avpet", ignore=ignore)
    shutil.copytree(REPO_ROOT / "hub", src / "hub", ignore=ignore)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", work / "dist", src], check=True
    )
    (built,) = (work / "dist").glob("avpet-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict[str, str]:
    """The environment of a user who installed the wheel (its ``avpet`` first on PATH) and works
    in an empty folder holding the sample clip, offline with an empty HF_HOME."""
    work = tmp_path_factory.mktemp("installed")
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "install", "--no-deps", "--target", site, wheel],
        check=True,
    )
    env = docs_env(work / "hf_home")
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(site), CWD=str(work / "user"))
    env["PATH"] = f"{site / 'bin'}{os.pathsep}{env['PATH']}"
    (work / "user" / "examples").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "examples" / "grid_s1_bbaf2n.mp4", work / "user" / "examples")
    return env


def _run(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", command], cwd=env["CWD"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_carries_the_published_weights(wheel):
    assert PUBLISHED, "no tag published under avpet/"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for tag in PUBLISHED:
            folder = f"avpet/published/{avpet.get_pretrained_cfg(tag).hf_hub_id.split('/')[1]}"
            for file in ("README.md", "config.json", "model.safetensors"):
                assert f"{folder}/{file}" in names, f"{tag}: {file} not in {wheel.name}"
        shipped = {n.split("/")[2] for n in names if n.startswith("avpet/published/")}
    assert len(shipped) == len(PUBLISHED)  # nothing else of hub/ went in
    assert wheel.stat().st_size < MAX_WHEEL_MB * 2**20


def test_readme_first_command_runs_from_the_wheel(installed):
    """The README's first command, past its ``pip install``, flag-free for weights."""
    readme = (REPO_ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)\n```", readme, re.S).group(1)
    install, _, command = first.partition(" && ")
    assert install == "pip install ." and command.startswith("avpet sync "), first
    assert "--pretrained" not in command and "\n" not in command
    out = _run(command, installed)
    assert re.search(r"offset [+-]\d+ frames", out), out


def test_extract_and_create_model_load_the_shipped_weights_offline(installed):
    out = _run(
        "avpet extract examples/grid_s1_bbaf2n.mp4 --model avpet_small_mid_lowrank.grid_s1 "
        "--out features && ls features",
        installed,
    )
    assert "grid_s1_bbaf2n.mp4.safetensors" in out
    script = (
        "import avpet, sys\n"
        "from avpet.hub.sources import Source, resolve_published\n"
        "for tag in sys.argv[1:]:\n"
        "    model = avpet.create_model(tag, pretrained=True)\n"
        "    hub_id = avpet.get_pretrained_cfg(tag).hf_hub_id\n"
        "    print(model.pretrained_cfg.tag, resolve_published(Source('hf-hub', hub_id)).weights)\n"
    )
    out = _run(f'python -c "{script}" {" ".join(PUBLISHED)}', installed)
    site = installed["PYTHONPATH"]
    for tag, line in zip(PUBLISHED, out.splitlines(), strict=True):
        loaded_tag, weights = line.split()
        assert loaded_tag == tag.partition(".")[2]
        assert weights.startswith(f"{site}/avpet/published/"), line

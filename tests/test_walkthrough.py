"""docs/walkthrough.md, run as written: videos → torchrun pretraining → eval → push to a Hub →
``create_model("hf-hub:...")`` in a fresh process."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import docs_env

PAGE = Path(__file__).resolve().parents[1] / "docs" / "walkthrough.md"


def bash_blocks(text: str) -> list[str]:
    """The fenced ```bash blocks of a Markdown page, in order."""
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.slow
def test_walkthrough_runs_as_written(fresh_clone, tmp_path):
    # the page's commands; on failure, the Hub it started in the background goes too
    setup = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
    script = setup + "\n".join(bash_blocks(PAGE.read_text()))
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=fresh_clone,
        env=docs_env(tmp_path / "hf_home"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Warning" not in done.stderr, done.stderr[-4000:]
    assert done.stdout.splitlines()[-1] == (
        "avpet_small_mid_lowrank me/avbert-my-videos cc-by-4.0"
    ), done.stdout[-2000:]
    run = fresh_clone / "runs" / "mine"
    assert (run / "final" / "model.safetensors").is_file()
    for name in ("README.md", "config.json"):  # what is published names no local folder
        assert str(fresh_clone.parent) not in (run / "final" / name).read_text(), name
    assert "pushed runs/mine/final to hf-hub:me/avbert-my-videos@" in done.stdout
    assert "(9 metrics)" in done.stdout  # the evaluation went into the card

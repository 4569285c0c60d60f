"""The documentation site builds in strict mode (broken links, bad references fail)."""

import subprocess
import sys

import pytest
from conftest import REPO_ROOT


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    zoo = (tmp_path / "zoo" / "index.html").read_text()
    assert "avpet_mid_lowrank" in zoo and "43,778,080" in zoo
    assert "FactorLinear" in (tmp_path / "api" / "index.html").read_text()

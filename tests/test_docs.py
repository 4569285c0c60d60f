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
    card = (tmp_path / "model_card" / "index.html").read_text()  # MODEL_CARD.md, in the site
    assert "Model card: the avpet AVBERT family" in card and 'href="../hub/' in card
    assert (tmp_path / "walkthrough" / "index.html").is_file()
    assert (tmp_path / "install" / "index.html").is_file()


def test_readme_and_install_page_name_every_extra():
    import tomllib

    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    readme, install = (REPO_ROOT / "README.md").read_text(), (REPO_ROOT / "docs" / "install.md")
    for extra in extras:
        assert f"`{extra}`" in readme, extra
        assert f"| `{extra}` |" in install.read_text(), extra

"""The published weights that ship with the package, so ``pretrained=True`` works offline on a
fresh install.

The wheel carries the repo folders of the repository's ``hub/`` that registered tags name
(``setup.py`` puts them in ``avpet/published/<repo name>/``); a source checkout (a clone on
``PYTHONPATH``, an editable install) reads ``hub/`` itself. A folder is the copy of
``hf-hub:ORG/NAME`` only if its ``config.json`` records that very hub id.
"""

from __future__ import annotations

import json
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
WHEEL_DIR = PACKAGE_DIR / "published"
CHECKOUT_DIR = PACKAGE_DIR.parent / "hub"  # only beside the checkout's pyproject.toml


def bundled_folder(repo_id: str) -> Path | None:
    """The shipped copy of the Hub repo ``repo_id`` (``"org/name"``), or ``None``."""
    roots = [WHEEL_DIR]
    if (PACKAGE_DIR.parent / "pyproject.toml").is_file():  # not site-packages/hub, someone else's
        roots.append(CHECKOUT_DIR)
    name = repo_id.rpartition("/")[2]
    for root in roots:
        config = root / name / "config.json"
        if config.is_file() and _hub_id(config) == repo_id:
            return config.parent
    return None


def _hub_id(config: Path) -> str | None:
    """``pretrained_cfg.hf_hub_id`` of a repo's ``config.json`` (``None`` if unreadable: the
    loader reports a broken repo where it is used, not here where it is only looked at)."""
    try:
        pretrained = json.loads(config.read_text()).get("pretrained_cfg")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    return pretrained.get("hf_hub_id") if isinstance(pretrained, dict) else None

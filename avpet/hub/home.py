"""avpet's own folder in the Hugging Face cache: ``$HF_HOME/avpet`` (``HF_HOME`` defaults to
``$XDG_CACHE_HOME/huggingface``, then ``~/.cache/huggingface``), read at call time."""

from __future__ import annotations

import os
from pathlib import Path


def avpet_home() -> Path:
    """``$HF_HOME/avpet``: converted official checkpoints, records of verified weights."""
    home = os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "huggingface"
    )
    return Path(home).expanduser() / "avpet"

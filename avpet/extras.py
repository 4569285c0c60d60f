"""Optional dependencies ("extras"), checked before any work starts.

``pip install "avpet[eval]"`` and friends install them; a command that needs an extra calls
:func:`require` first, so a missing package stops it at once with the pip command to run, not
with a traceback after minutes of decoding.
"""

from __future__ import annotations

import importlib.util

from .errors import DependencyError

# extra -> the import names it provides (see [project.optional-dependencies] in pyproject.toml)
EXTRAS: dict[str, tuple[str, ...]] = {
    "eval": ("sklearn", "threadpoolctl"),
    "train": ("tensorboard",),
    "plot": ("matplotlib",),
    "search": ("faiss",),
    "shards": ("webdataset", "fsspec"),
}


def missing(extra: str) -> list[str]:
    """The import names of ``extra`` that are not installed."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, purpose: str) -> None:
    """Raise :class:`DependencyError` naming ``pip install "avpet[extra]"`` if ``extra`` is
    incomplete; ``purpose`` says what needs it (``"avpet eval"``)."""
    absent = missing(extra)
    if absent:
        raise DependencyError(
            f'{purpose} needs {", ".join(absent)} (not installed): pip install "avpet[{extra}]"'
        )

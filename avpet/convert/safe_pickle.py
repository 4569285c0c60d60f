"""Read MMV's released checkpoints (dill pickles of Haiku ``{params, state}``) without running code.

A pickle may name any importable callable and call it while loading; this unpickler resolves only
what a tree of numpy arrays needs (numpy's array and dtype reconstructors, ``numpy`` scalars,
dill's array wrapper ``dill._dill._create_array``, re-implemented here to accept nothing but
numpy's reconstructor) and Haiku's 2020 ``FlatMapping`` (rebuilt as a plain dict, so neither Haiku
nor dill need be installed). Any other global — ``os.system``, ``builtins.eval``, a dill-pickled
function — is refused with a :class:`CheckpointError` before anything is called.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError


class FlatMapping(dict):
    """Stand-in for ``haiku._src.data_structures.FlatMapping``: a plain dict of its items."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        for arg in args:
            self.update(_as_mapping(arg))
        self.update(kwargs)

    def __setstate__(self, state: Any) -> None:
        self.update(_as_mapping(state))


def _as_mapping(value: Any) -> Mapping:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(item, (list, tuple)) and len(item) == 2 for item in value
    ):
        return dict(value)
    raise pickle.UnpicklingError(f"FlatMapping built from {type(value).__name__}, not a mapping")


def _create_array(reconstruct: Any, args: tuple, state: tuple, npdict: Any = None) -> np.ndarray:
    """``dill._dill._create_array`` for plain arrays: ``reconstruct(*args)`` then its state."""
    if reconstruct is not _numpy("_reconstruct") or npdict:
        raise pickle.UnpicklingError("dill array built by something other than numpy")
    array = reconstruct(*args)
    array.__setstate__(state)
    return array


def _numpy(name: str) -> Any:
    core = getattr(np, "_core", None) or np.core
    return getattr(core.multiarray, name)


ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("haiku._src.data_structures", "FlatMapping"): FlatMapping,
    ("collections", "OrderedDict"): dict,
    ("dill._dill", "_create_array"): _create_array,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    for _name in ("_reconstruct", "scalar"):
        ALLOWED[(_module, _name)] = _numpy(_name)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name} (only numpy arrays, plain containers and "
                "Haiku FlatMappings are accepted)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id (not a plain pickle of arrays)")


def load_pickle(path: str | Path) -> Any:
    """The object tree of pickle ``path``, with FlatMappings as dicts; refuses anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    with open(path, "rb") as handle:
        try:
            return _Unpickler(handle).load()
        except pickle.UnpicklingError as error:
            raise CheckpointError(path, f"unsafe or invalid pickle: {error}") from error
        except (
            EOFError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            KeyError,
            RecursionError,
        ) as error:
            raise CheckpointError(path, f"truncated or corrupt pickle ({error!r})") from error
        except (MemoryError, OverflowError) as error:  # a damaged length field
            reason = f"corrupt pickle: asks for an impossible size ({error!r})"
            raise CheckpointError(path, reason) from error

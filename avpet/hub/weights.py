"""Safetensors weights: read with integrity checks, write with shared tensors folded, and load
into a model strictly.

A model whose modules are shared (the one low-rank layer reused by every Transformer) has several
``state_dict`` keys for one tensor; the file stores each tensor once under its first name and
loading fills the aliases back in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import CheckpointError
from .home import avpet_home

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".tar")
_MAX_HEADER_BYTES = 100_000_000
SETTLED_SECONDS = 2.0


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, sha256: str | None, size: int | None) -> None:
    """Raise :class:`CheckpointError` if ``path`` differs from the recorded size or digest.

    The digest of a file is computed once per version of it: a record in
    ``$HF_HOME/avpet/verified/`` (its digest, size, inode and status-change time, which any write
    moves; kept only for a file unchanged for :data:`SETTLED_SECONDS` before it was hashed) lets a
    later load of the same unchanged file skip the hashing (1-2 s for a VATT's 815 MB).
    """
    stat = path.stat()
    if size is not None and stat.st_size != size:
        raise CheckpointError(
            path, f"truncated or padded: {stat.st_size} bytes, config.json says {size}"
        )
    if sha256 is None:
        return
    record = avpet_home() / "verified" / hashlib.sha256(str(path.resolve()).encode()).hexdigest()
    version = f"{sha256} {stat.st_size} {stat.st_ctime_ns} {stat.st_ino}"
    if record.is_file() and record.read_text() == version:
        return
    if sha256_of(path) != sha256:
        raise CheckpointError(
            path,
            f"corrupted: SHA-256 differs from config.json ({sha256[:12]}…); "
            "delete it and download again",
        )
    if time.time() - stat.st_ctime < SETTLED_SECONDS:  # a change within the same clock tick
        return  # would keep the change time
    with contextlib.suppress(OSError):  # a read-only cache only costs the hashing next time
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(version)


def read_safetensors(path: Path) -> dict[str, Tensor]:
    """All tensors of a ``.safetensors`` file on CPU; pickles and damaged files are refused."""
    path = Path(path)
    if path.suffix in PICKLE_SUFFIXES:
        raise CheckpointError(
            path,
            "pickle checkpoints are refused (they can run code); use .safetensors, or "
            "`avpet convert-official` for the official AVBERT checkpoint",
        )
    _check_header(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        raise CheckpointError(path, f"unreadable safetensors file ({error})") from error


def _check_header(path: Path) -> None:
    """Check the 8-byte length + JSON header and that the data section is fully present."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise CheckpointError(path, f"not a safetensors file: only {size} bytes")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(size - 8, _MAX_HEADER_BYTES):
            kind = "a zip/pickle file" if head[:2] in (b"PK", b"\x80\x02") else "truncated"
            raise CheckpointError(path, f"not a safetensors file ({kind}: bad header length)")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise CheckpointError(path, f"corrupted safetensors header ({error})") from error
    if not isinstance(header, dict):
        raise CheckpointError(path, "corrupted safetensors header (not a JSON object)")
    ends = [_data_end(path, key, entry) for key, entry in header.items() if key != "__metadata__"]
    data_bytes = size - 8 - header_len
    if ends and max(ends) > data_bytes:
        raise CheckpointError(
            path, f"truncated: tensors need {max(ends)} data bytes, the file has {data_bytes}"
        )


def _data_end(path: Path, key: str, entry: object) -> int:
    """End offset of one header entry, which must be ``{"dtype", "shape", "data_offsets":
    [begin, end]}`` with non-negative integers."""
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        and offsets[0] <= offsets[1]
    ):
        raise CheckpointError(
            path,
            f"corrupted safetensors header: tensor {key!r} needs data_offsets [begin, end] "
            f"(byte offsets), got {offsets!r:.80}",
        )
    return offsets[1]


def _check_values(state: dict[str, Tensor], model: nn.Module, origin: str) -> None:
    """Refuse tensors whose dtype kind differs from the model's (int8 weights for float
    parameters) and floating-point tensors holding NaN or infinity."""
    expected = model.state_dict()
    kinds = [
        f"{k}: {v.dtype} (model: {expected[k].dtype})"
        for k, v in state.items()
        if k in expected and v.is_floating_point() != expected[k].is_floating_point()
    ]
    if kinds:
        raise CheckpointError(origin, f"wrong dtype ({len(kinds)}): {_few(kinds)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not _finite(v)]
    if bad:
        raise CheckpointError(origin, f"non-finite values (NaN or inf) in {len(bad)}: {_few(bad)}")


def _finite(tensor: Tensor) -> bool:
    """Whether every value is finite. A NaN or infinity makes the sum non-finite, so a finite sum
    (one pass, no mask: 5x faster on a VATT) settles it; only a sum that overflowed is checked
    value by value."""
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def unique_state_dict(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, str]]:
    """``(tensors, aliases)``: each distinct tensor once under its first key, and
    ``alias key -> stored key`` for every other key that names the same tensor."""
    tensors: dict[str, Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for key, value in model.state_dict().items():
        identity = (value.device, value.data_ptr(), value.dtype, tuple(value.shape), value.stride())
        if value.numel() and identity in seen:
            aliases[key] = seen[identity]
            continue
        seen[identity] = key
        tensors[key] = value
    return tensors, aliases


# torch dtype -> safetensors header name
SAFETENSORS_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}  # fmt: skip


def write_safetensors(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save ``model``'s weights (each shared tensor once) to ``path`` as safetensors.

    The file is a function of the weights and ``metadata`` alone (header keys sorted, tensors in
    name order), so one model always gives the same bytes (safetensors' own writer orders the
    metadata differently from run to run); it is created with the usual permissions (0644 under
    the common umask, where safetensors' writer makes it private).
    """
    tensors, _ = unique_state_dict(model)
    header: dict[str, dict] = {"__metadata__": dict(sorted((metadata or {}).items()))}
    offset = 0
    for key in sorted(tensors):
        value = tensors[key]
        size = value.numel() * value.element_size()
        header[key] = {
            "dtype": SAFETENSORS_DTYPES[value.dtype],
            "shape": list(value.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    if not header["__metadata__"]:
        del header["__metadata__"]
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text)
        for key in sorted(tensors):
            data = tensors[key].detach().cpu().contiguous().reshape(-1)
            out.write(data.view(torch.uint8).numpy().tobytes())


def load_into(model: nn.Module, state: dict[str, Tensor], origin: str, strict: bool = True) -> None:
    """Copy ``state`` into ``model``; every mismatch is reported in one :class:`CheckpointError`.

    Keys the model shares with another key may be absent from ``state`` (they are filled from the
    stored key). Wrong shapes, integer tensors for float parameters (or the reverse) and NaN or
    infinite values always fail; missing and unexpected keys fail when ``strict``.
    """
    expected, aliases = unique_state_dict(model)
    shapes = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and k not in aliases]
    problems = [f"wrong shape ({len(shapes)}): {_few(shapes)}"] if shapes else []
    if strict and missing:
        problems.append(f"missing keys ({len(missing)}): {_few(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_few(unexpected)}")
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointError(origin, f"weights do not fit {name}: " + "; ".join(problems))
    _check_values(state, model, origin)
    full = dict(state)
    for alias, stored in aliases.items():
        if stored in full and alias not in full:
            full[alias] = full[stored]
    with torch.no_grad():
        model.load_state_dict(full, strict=False)


def _few(keys: list[str], limit: int = 5) -> str:
    more = f", … (+{len(keys) - limit})" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more

"""Replay a parity record: convert an official checkpoint, run avpet on the official inputs and
measure the largest absolute difference from the official outputs.

A record is a folder written by the official code (``tools/official_vatt.py``): the checkpoint
``ckpt-1.index`` + ``ckpt-1.data-00000-of-00001`` and ``parity.npz`` holding the inputs
(``video`` ``[B, T, H, W, 3]``, ``audio`` ``[B, S, 1]``, ``text`` ``[B, L]``) and the outputs
(``out_<name>``, named as the outputs of avpet's per-clip ``embed_clips``; token outputs exclude
the aggregation token, as the official ``features`` do).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError


def replay_vatt(folder: str | Path) -> dict[str, float]:
    """``{output name: max |avpet - official|}`` for the record in ``folder`` (float32, eval)."""
    from ..hub.weights import load_into
    from ..models.vatt import VATT
    from . import vatt

    folder = Path(folder)
    record = folder / "parity.npz"
    if not record.is_file():
        raise CheckpointError(record, "no such parity record")
    official = vatt.load_official(folder / "ckpt-1")
    model = VATT(vatt.infer_cfg(official, str(folder)), name="vatt_official").eval()
    load_into(model, vatt.convert_state_dict(official, str(folder)), str(folder), strict=True)
    data = np.load(record)
    inputs = {}
    if "video" in model.inputs:
        inputs["video"] = torch.from_numpy(data["video"]).permute(0, 4, 1, 2, 3)
    if "audio" in model.inputs:
        inputs["audio"] = torch.from_numpy(data["audio"])[..., 0]
    if "text" in model.inputs:
        inputs["text"] = torch.from_numpy(data["text"])
    with torch.no_grad():
        ours = model.embed_clips(**inputs)
    diffs = {}
    for key in data.files:
        if not key.startswith("out_"):
            continue
        name = key[len("out_") :]
        mine = ours[name][:, 1:] if name.endswith("_tokens") else ours[name]
        diffs[name] = float(np.abs(mine.numpy() - data[key]).max())
    return diffs

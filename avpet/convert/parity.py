"""Replay a parity record: convert an official checkpoint, run avpet on the official inputs and
measure the largest absolute difference from the official outputs.

A record is a folder written by the official code, with ``parity.npz`` holding the inputs
(``video`` ``[B, T, H, W, 3]``, ``audio``, ``text`` ``[B, L]``) and the outputs (``out_<name>``,
named as the outputs of avpet's per-clip ``embed_clips``):

* VATT (``tools/official_vatt.py``): the checkpoint ``ckpt-1.index`` + ``.data-00000-of-00001``;
  audio is the waveform ``[B, S, 1]``; token outputs exclude the aggregation token, as the
  official ``features`` do. Compared in float32.
* MMV (``tools/official_mmv.py``): the pickle named in ``official.json``; audio is the
  spectrogram ``[B, frames, mel bins, 1]``. Compared in float64 (as the official outputs were
  computed), so that float32 rounding cannot hide a converter mistake under the tolerance.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
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


def replay_mmv(folder: str | Path, dtype: torch.dtype = torch.float64) -> dict[str, float]:
    """``{output name: max |avpet - official|}`` for the MMV record in ``folder``, avpet run in
    ``dtype`` (float64 as the record; float32 shows what a user's default precision adds)."""
    from ..models.mmv_official import MMVOfficial
    from . import mmv

    folder = Path(folder)
    record, about = folder / "parity.npz", folder / "official.json"
    for path in (record, about):
        if not path.is_file():
            raise CheckpointError(path, "no such parity record file")
    checkpoint = folder / json.loads(about.read_text())["checkpoint"]
    official = mmv.load_official(checkpoint)
    model = MMVOfficial(mmv.infer_cfg(official, str(checkpoint)), name="mmv_record").eval()
    model.load_state_dict(mmv.convert_state_dict(official, model, str(checkpoint)), strict=True)
    model.to(dtype)
    data = np.load(record)
    with torch.no_grad():
        ours = model.embed_clips(
            video=torch.from_numpy(data["video"]).to(dtype).permute(0, 4, 1, 2, 3),
            audio=torch.from_numpy(data["audio"]).to(dtype).permute(0, 3, 2, 1),
            text=torch.from_numpy(data["text"]).long(),
        )
    return {
        key[len("out_") :]: float(
            np.abs(ours[key[len("out_") :]].double().numpy() - data[key]).max()
        )
        for key in data.files
        if key.startswith("out_")
    }


def report(replay: Callable[[str | Path], dict[str, float]], folder: str, as_json: bool) -> bool:
    """Run ``replay`` on the record ``folder``, print its differences (a table, or one JSON line
    with the machine) and say whether all are within 1e-4."""
    start = time.perf_counter()
    diffs = replay(folder)
    seconds = time.perf_counter() - start
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    if as_json:
        print(json.dumps({"max_abs_diff": diffs, "seconds": seconds, "machine": machine}))
    else:
        print(f"{folder} ({machine}; convert + forward {seconds:.0f} s)")
        for name, diff in diffs.items():
            print(f"  {name:>14}: {diff:.1e}")
    return max(diffs.values()) <= 1e-4

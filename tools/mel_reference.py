"""Write tests/fixtures/mel_reference.safetensors: torchaudio's MelSpectrogram (HTK, power 2) of
seeded noise for the front ends avpet uses, the reference ``avpet.data.mel`` is tested against.

Needs torchaudio (not an avpet dependency): ``pip install torchaudio==<your torch's version>``,
then ``python tools/mel_reference.py``. The stored file was printed by torchaudio 2.11.0 with
torch 2.11.0 (CPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torchaudio
from safetensors.torch import save_file

import avpet

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mel_reference.safetensors"


def cases() -> dict[str, tuple[int, int, int, int, int]]:
    """``name -> (sample_rate, n_fft, hop, n_mels, samples)``."""
    out = {}
    for name in ("avpet_small_mid_lowrank", "avpet_mid_lowrank"):
        spec = avpet.get_pretrained_cfg(name).input
        out[name] = (spec.sample_rate, spec.n_fft, spec.n_fft // 2, spec.n_mels, spec.clip_samples)
    out["baseline_16k"] = (16000, 400, 160, 40, 8000)  # log-mel statistics of avpet.eval
    return out


def main() -> None:
    tensors, meta = {}, {}
    generator = torch.Generator().manual_seed(0)
    for name, (rate, n_fft, hop, n_mels, samples) in cases().items():
        wave = torch.randn(1, samples, generator=generator)
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, mel_scale="htk"
        )
        tensors[f"{name}/wave"] = wave
        tensors[f"{name}/mel"] = mel(wave).contiguous()
        meta[name] = [rate, n_fft, hop, n_mels]
    meta_text = {"cases": json.dumps(meta), "torchaudio": torchaudio.__version__}
    save_file(tensors, OUT, metadata=meta_text)
    print(f"wrote {OUT} (torchaudio {torchaudio.__version__}, torch {torch.__version__})")


if __name__ == "__main__":
    main()

"""avpet's mel spectrogram against torchaudio's (values printed by tools/mel_reference.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import avpet
from avpet.data.mel import MelSpectrogram, empty_mel_filters

REFERENCE = Path(__file__).parent / "fixtures" / "mel_reference.safetensors"


def _reference() -> tuple[dict, dict[str, torch.Tensor]]:
    with safe_open(REFERENCE, "pt") as handle:
        cases = json.loads(handle.metadata()["cases"])
        return cases, {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118


CASES, TENSORS = _reference()


@pytest.mark.parametrize("case", sorted(CASES))
def test_mel_spectrogram_matches_torchaudio(case):
    rate, n_fft, hop, n_mels = CASES[case]
    wave, expected = TENSORS[f"{case}/wave"], TENSORS[f"{case}/mel"]
    out = MelSpectrogram(rate, n_fft, hop, n_mels)(wave)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-3)
    # the log-mel the models take agrees tightly where the power is not negligible
    torch.testing.assert_close(torch.log(1e-6 + out), torch.log(1e-6 + expected), rtol=0, atol=1e-3)


def test_every_registered_log_mel_front_end_has_no_dead_mel_band():
    for name in avpet.list_models():
        spec = avpet.get_pretrained_cfg(name).input
        if spec.audio_format == "logmel":
            assert empty_mel_filters(spec.n_fft, spec.n_mels, spec.sample_rate) == 0, name

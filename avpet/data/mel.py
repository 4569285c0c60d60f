"""Mel spectrograms in plain torch (``torch.stft`` and an HTK triangular filterbank).

avpet computed these with torchaudio until 0.2; torchaudio wheels are built for exactly one torch
release, so depending on it pinned every user's torch (docs/install.md). The filterbank and the
spectrogram here reproduce torchaudio's ``MelSpectrogram(mel_scale="htk", norm=None)`` (Hann
window, centred frames with reflect padding, one-sided); ``tests/test_data_mel.py`` checks them
against values torchaudio 2.11 printed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def hz_to_mel(hz: Tensor) -> Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int) -> Tensor:
    """Triangular HTK filters from 0 Hz to Nyquist, unnormalised: ``[n_freqs, n_mels]``."""
    freqs = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)
    top = hz_to_mel(torch.tensor(float(sample_rate // 2), dtype=torch.float64))
    edges = mel_to_hz(torch.linspace(0.0, float(top), n_mels + 2, dtype=torch.float64))
    widths = edges[1:] - edges[:-1]  # [n_mels + 1]
    slopes = edges[None, :] - freqs[:, None]  # [n_freqs, n_mels + 2]
    rising = -slopes[:, :-2] / widths[:-1]
    falling = slopes[:, 2:] / widths[1:]
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def empty_mel_filters(n_fft: int, n_mels: int, sample_rate: int) -> int:
    """How many of the ``n_mels`` filters fall between two FFT bins (all zero: a dead band)."""
    bank = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate)
    return int((bank.amax(dim=0) == 0).sum())


class MelSpectrogram(nn.Module):
    """Waveform ``[..., S]`` → power mel spectrogram ``[..., n_mels, 1 + S // hop]``."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer(
            "filters", mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate), persistent=False
        )

    def forward(self, waveform: Tensor) -> Tensor:
        batch_shape, samples = waveform.shape[:-1], waveform.shape[-1]
        stft = torch.stft(
            waveform.reshape(-1, samples),
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = stft.abs().pow(2.0)  # [N, n_fft // 2 + 1, frames]
        mel = (power.transpose(-1, -2) @ self.filters).transpose(-1, -2)
        return mel.reshape(*batch_shape, *mel.shape[-2:])

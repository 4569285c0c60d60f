"""Projection heads into the joint spaces of MMV / VATT: shared, disjoint, or fine-and-coarse (FAC).

Outputs (present when the input modality is given): ``video_va`` and ``audio_va`` live in the
video-audio space S_va, ``video_vt`` and ``text_vt`` in the video-text space S_vt (S_vat for FAC).

* ``fac`` (VATT, MMV's best): video → S_va by a 2-layer MLP (Linear, BN, ReLU, Linear, BN),
  audio → S_va linear, S_va → S_vat by ReLU + Linear + BN (so the video reaches text through the
  audio space), text → S_vat linear.
* ``disjoint``: separate linear maps video → S_va, video → S_vt, audio → S_va, text → S_vt.
* ``shared``: one space; video, audio and text each by one linear map (``video_va is video_vt``).
* ``none``: no heads (a backbone used alone, e.g. for fine-tuning).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..errors import ConfigError

SPACE_KINDS = ("fac", "disjoint", "shared", "none")


@dataclass(frozen=True)
class SpacesCfg:
    """``kind`` of joint space; sizes of S_va (``va_dim``, 512) and S_vt/S_vat (``vt_dim``, 256)."""

    kind: str = "fac"
    va_dim: int = 512
    vt_dim: int = 256
    bn_eps: float = 1e-5

    def __post_init__(self):
        if self.kind not in SPACE_KINDS:
            raise ConfigError(f"spaces kind must be one of {SPACE_KINDS}, got {self.kind!r}")
        if self.va_dim <= 0 or self.vt_dim <= 0:
            raise ConfigError(f"space sizes must be positive, got {self.va_dim}, {self.vt_dim}")


def _linear(cin: int | None, cout: int) -> nn.Linear | None:
    return None if cin is None else nn.Linear(cin, cout)


class JointSpaces(nn.Module):
    """Maps pooled features ``[B, C_m]`` of each modality into the joint spaces of ``cfg.kind``.

    A modality whose feature size is ``None`` gets no branch.
    """

    def __init__(
        self, cfg: SpacesCfg, video_dim: int | None, audio_dim: int | None, text_dim: int | None
    ):
        super().__init__()
        if cfg.kind == "none":
            raise ConfigError("JointSpaces needs a space kind other than 'none'")
        self.cfg = cfg
        va, vt, eps = cfg.va_dim, cfg.vt_dim, cfg.bn_eps
        self.video_va: nn.Module | None = None
        self.va_to_vt: nn.Module | None = None
        self.video_vt: nn.Module | None = None
        self.audio_va = _linear(audio_dim, vt if cfg.kind == "shared" else va)
        self.text_vt = _linear(text_dim, vt)
        if video_dim is None:
            return
        if cfg.kind == "fac":
            self.video_va = nn.Sequential(
                nn.Linear(video_dim, va, bias=False),
                nn.BatchNorm1d(va, eps=eps),
                nn.ReLU(),
                nn.Linear(va, va, bias=False),
                nn.BatchNorm1d(va, eps=eps),
            )
            self.va_to_vt = nn.Sequential(
                nn.ReLU(), nn.Linear(va, vt, bias=False), nn.BatchNorm1d(vt, eps=eps)
            )
        elif cfg.kind == "disjoint":
            self.video_va = nn.Linear(video_dim, va)
            self.video_vt = nn.Linear(video_dim, vt)
        else:
            self.video_vt = nn.Linear(video_dim, vt)

    def forward(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Pooled features → ``{"video_va", "video_vt", "audio_va", "text_vt"}`` (given ones)."""
        out: dict[str, Tensor] = {}
        if video is not None:
            if self.cfg.kind == "fac":
                out["video_va"] = self.video_va(video)
                out["video_vt"] = self.va_to_vt(out["video_va"])
            elif self.cfg.kind == "disjoint":
                out["video_va"] = self.video_va(video)
                out["video_vt"] = self.video_vt(video)
            else:
                out["video_va"] = out["video_vt"] = self.video_vt(video)
        if audio is not None:
            out["audio_va"] = self.audio_va(audio)
        if text is not None:
            out["text_vt"] = self.text_vt(text)
        return out

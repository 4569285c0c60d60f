"""MMV exactly as the authors released it (deepmind-research ``mmv/``, JAX/Haiku): the full-size
``mmv_*`` names, whose ``_fac`` variants are the architectures of their three checkpoints (so
that ``avpet convert-official mmv`` and ``pretrained=True`` load them).

The CPU-size ``mmv_small_*`` (:mod:`avpet.models.mmv`) follow the paper's description and differ
from the released code in details that change the weights' shapes: here the video network is the
authors' S3D-G (:mod:`avpet.layers.s3d_mmv`, space-to-depth stem) or TSM-ResNet50 v2 (×1, ×2,
:mod:`avpet.layers.resnet_v2`), the audio network a pre-activation ResNet50 on log-mel, the text
network the word table → ``Linear(300, 2048)`` → ReLU → max over every word *including padding*
(as the official ``TextModule``), and the heads the official ``fac_relu`` graph:

* video → S_va (512): ``Linear(+bias) → BN → ReLU → Linear → BN`` (``vid2audio_embd``);
* S_va → S_vat (256): ``ReLU → Linear(+bias) → BN`` (``vis_embd``), applied to the video's and,
  in eval mode, the audio's S_va embedding (``video_vt``, ``audio_vt``);
* audio → S_va: ``Linear`` (``audio_embd``); text → S_vat: ``Linear`` (``txt_embd``);
* the audio-text space S_at (512): ``Linear`` of the audio (``audio2txt_embd``, used by the
  official code in training only) and of the text (``txt2audio_embd``): ``audio_at``, ``text_at``.

Registered: ``mmv_{s3d,tsm_resnet50,tsm_resnet50x2}_fac`` (57,509,968 / 72,388,608 / 143,828,544
parameters, word table included, as the official code) and, on the same backbones, the paper's
other joint spaces as head variants ``_shared`` and ``_disjoint`` (:class:`~avpet.layers.spaces.
JointSpaces`; no weights were released for them).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from torch import Tensor, nn

from ..config import InputSpec, PretrainedCfg
from ..errors import ConfigError
from ..layers.resnet_v2 import BN_EPS, ResNetV2Cfg, SpectrogramResNetV2, TSMResNetV2
from ..layers.s3d_mmv import S3DMMV, S3DMMVCfg
from ..layers.spaces import SpacesCfg
from ..registry import register_models
from .joint import MODALITIES, check_joint_cfg
from .mmv import HEAD_KINDS, MMV, WordPool, WordPoolCfg, check_video_backbone


@dataclass(frozen=True)
class MMVOfficialCfg:
    """The released MMV: video backbone (``s3d`` or ``tsm``) and the sizes of every part.

    ``spaces`` holds S_va / S_vat: kind ``fac`` is the official ``fac_relu`` graph (with the
    audio-text space S_at), ``shared`` / ``disjoint`` the paper's other spaces, ``none`` no heads;
    ``va_hidden`` is the inner width of the video → S_va MLP, ``at_dim`` the audio-text space's.
    """

    video_backbone: str = "s3d"
    s3d: S3DMMVCfg = field(default_factory=S3DMMVCfg)
    tsm: ResNetV2Cfg = field(default_factory=lambda: ResNetV2Cfg(in_channels=3, shift=True))
    audio: ResNetV2Cfg = field(default_factory=ResNetV2Cfg)
    text: WordPoolCfg = field(default_factory=lambda: WordPoolCfg(mask_padding=False))
    modalities: tuple[str, ...] = MODALITIES
    spaces: SpacesCfg = field(default_factory=lambda: SpacesCfg(bn_eps=BN_EPS))
    va_hidden: int = 512
    at_dim: int = 512
    num_classes: int = 0
    head_dropout: float = 0.0

    def __post_init__(self):
        check_video_backbone(self.video_backbone)
        if min(self.va_hidden, self.at_dim) <= 0:
            raise ConfigError(f"va_hidden and at_dim must be positive: {self}")
        check_joint_cfg(self.modalities, self.num_classes, self.spaces.kind)


def _bn(channels: int, eps: float) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=eps)


class MMVHeads(nn.Module):
    """The official ``fac_relu`` projection heads; a modality whose width is ``None`` has none.

    Pooled ``[B, C_m]`` → ``video_va``, ``video_vt``, ``audio_va``, ``audio_vt``, ``audio_at``,
    ``text_vt``, ``text_at`` (those of the given modalities).
    """

    def __init__(self, cfg: MMVOfficialCfg, video: int | None, audio: int | None, text: int | None):
        super().__init__()
        va, vt, at, eps = cfg.spaces.va_dim, cfg.spaces.vt_dim, cfg.at_dim, cfg.spaces.bn_eps
        self.video_va = self.audio_va = self.audio_at = self.text_vt = self.text_at = None
        if video is not None:
            self.video_va = nn.Sequential(
                nn.Linear(video, cfg.va_hidden),
                _bn(cfg.va_hidden, eps),
                nn.ReLU(),
                nn.Linear(cfg.va_hidden, va, bias=False),
                _bn(va, eps),
            )
        self.va_to_vt = nn.Sequential(nn.ReLU(), nn.Linear(va, vt), _bn(vt, eps))
        if audio is not None:
            self.audio_va, self.audio_at = nn.Linear(audio, va), nn.Linear(audio, at)
        if text is not None:
            self.text_vt, self.text_at = nn.Linear(text, vt), nn.Linear(text, at)

    def forward(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        if video is not None:
            out["video_va"] = self.video_va(video)
            out["video_vt"] = self.va_to_vt(out["video_va"])
        if audio is not None:
            out["audio_va"] = self.audio_va(audio)
            out["audio_vt"] = self.va_to_vt(out["audio_va"])
            out["audio_at"] = self.audio_at(audio)
        if text is not None:
            out["text_vt"] = self.text_vt(text)
            out["text_at"] = self.text_at(text)
        return out


class MMVOfficial(MMV):
    """The released MMV networks: video ``[N, 3, T, H, W]`` RGB in [0, 1], audio log-mel
    ``[N, 1, n_mels, frames]``, text word ids ``[N, L]`` → ``{m}_pooled`` (video 1024 / 2048 /
    4096, audio and text 2048 at the released sizes) and the heads' embeddings; see the module
    docstring."""

    cfg: MMVOfficialCfg
    summary = (
        "the authors' released MMV networks: per-clip video (S3D-G or TSM-ResNet50 v2), log-mel "
        "audio (ResNet50 v2) and bag-of-words text, with the official fac_relu heads"
    )

    def make_encoder(self, modality: str) -> nn.Module:
        cfg = self.cfg
        if modality == "video":
            return S3DMMV(cfg.s3d) if cfg.video_backbone == "s3d" else TSMResNetV2(cfg.tsm)
        return SpectrogramResNetV2(cfg.audio) if modality == "audio" else WordPool(cfg.text)

    def make_spaces(self, video: int | None, audio: int | None, text: int | None) -> nn.Module:
        if self.cfg.spaces.kind == "fac":
            return MMVHeads(self.cfg, video, audio, text)
        return super().make_spaces(video, audio, text)


# ---- registry -------------------------------------------------------------------------------

LICENSE = "cc-by-nc-4.0"  # the released weights'
CODE_LICENSE = "apache-2.0"  # the official code's, and so an architecture's without those weights
# The official evaluation (deepmind-research mmv/eval_ucf101.py, docs/hub.md cites each line):
# 32 frames at stride 2 of videos decoded at 25 fps (12.5 fps), the shorter side to 224
# (TF bilinear, cast back to uint8) and a 224 centre crop, pixels / 255 in [0, 1]. No official
# data code computes the audio: the spectrogram settings follow the TF-Hub release's advice
# (3.2 s of 48 kHz audio) and are not traced to a line.
OFFICIAL_INPUT = InputSpec(
    num_clips=1, frames=32, fps=12.5, size=224, test_size=224,
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), sample_rate=48000, n_mels=80, mel_frames=320,
    resize_style="dmvr", audio_seconds=3.2,
)  # fmt: skip
TSM = ResNetV2Cfg(in_channels=3, shift=True)
BACKBONES = {
    "s3d": ("S3D-G", MMVOfficialCfg()),
    "tsm_resnet50": ("TSM-ResNet50", MMVOfficialCfg(video_backbone="tsm")),
    "tsm_resnet50x2": ("TSM-ResNet50x2", MMVOfficialCfg("tsm", tsm=TSM.scaled(2))),
}
HEADS = {
    "fac": "the authors' released network (official fac_relu heads)",
    "shared": "the authors' backbones with the paper's shared space",
    "disjoint": "the authors' backbones with the paper's disjoint spaces",
}
VARIANTS: dict[str, tuple[MMVOfficialCfg, PretrainedCfg]] = {
    f"mmv_{backbone}_{kind}": (
        replace(cfg, spaces=replace(cfg.spaces, kind=kind)),
        PretrainedCfg(
            input=OFFICIAL_INPUT, license=CODE_LICENSE, description=f"MMV {title}: {HEADS[kind]}"
        ),
    )
    for (backbone, (title, cfg)), kind in itertools.product(BACKBONES.items(), HEAD_KINDS)
}
register_models(MMVOfficial, VARIANTS)

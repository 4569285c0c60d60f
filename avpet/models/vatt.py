"""VATT (Akbari et al., NeurIPS 2021): convolution-free Transformers on raw video, audio and text.

* Video: voxel patches 4×16×16 of 32×224² RGB in [-1, 1] → 1568 tokens; factorized learned
  positions (t 8 + h 14 + w 14, LayerNorm, dropout 0.1). Audio: 48 kHz waveform, patches of 128
  samples → 1200 tokens, learned temporal positions. DropToken keeps 50 % of the configured
  maximum number of tokens while training. A learned aggregation token is prepended; pre-LN
  blocks, final LayerNorm; the aggregation output is the pooled feature.
* Text: 16 word ids, vocabulary 2^16, frozen 300-d embedding, aggregation token, GELU
  pre-projection to the width, T5 encoder (no biases, RMS norm before attention, relative
  position bias with 32 buckets up to distance 64, shared by all layers).
* Modality-agnostic (``vatt_ma_*``): one Transformer for all three modalities; each modality
  keeps its tokenizer, a ``Linear + GELU`` pre-projection, positions, aggregation token and a
  ``Linear + GELU`` post-projection (1024); text then uses learned positions (16), not T5 bias.
* Heads: FAC joint spaces (:mod:`avpet.layers.spaces`); an optional video classifier.

Registered: ``vatt_{base,medium,large}`` (the video Transformer alone, the paper's
"VATT-Base/Medium/Large" for fine-tuning), ``vatt_{bbs,mbs,lbs}`` (the pretraining models:
video Base/Medium/Large, audio Base, text Small, FAC heads), ``vatt_ma_medium``, the CPU-size
``vatt_small`` and the released fine-tuned classifiers ``vatt_{size}_{dataset}``
(:data:`FINETUNED`; ``avpet convert-official vatt`` reads their checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from ..config import InputSpec, PretrainedCfg
from ..errors import ConfigError
from ..layers.drop_token import DropToken
from ..layers.patch_embed import VideoPatchEmbed, WavePatchEmbed
from ..layers.prenorm import PreNormBlock, PreNormEncoder
from ..layers.spaces import JointSpaces, SpacesCfg
from ..layers.spline import resample_table
from ..layers.t5_bias import RelativePositionBias
from ..registry import register_models
from .joint import MODALITIES, JointModel, check_joint_cfg, count_parameters

PADDING_BIAS = -1e9
SHARED = "shared"


@dataclass(frozen=True)
class TransformerSize:
    """Width, depth and heads of one pre-LN Transformer (``heads × head_dim`` inner width)."""

    dim: int = 768
    depth: int = 12
    heads: int = 12
    head_dim: int = 64
    mlp_dim: int = 3072
    dropout: float = 0.1
    eps: float = 1e-6

    def __post_init__(self):
        for name in ("dim", "depth", "heads", "head_dim", "mlp_dim"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"TransformerSize.{name} must be positive, got {getattr(self, name)}"
                )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


SMALL = TransformerSize(dim=512, depth=6, heads=8, mlp_dim=2048)
BASE = TransformerSize()
MEDIUM = TransformerSize(dim=1024, depth=12, heads=16, mlp_dim=4096)
LARGE = TransformerSize(dim=1024, depth=24, heads=16, mlp_dim=4096)


@dataclass(frozen=True)
class VideoCfg:
    """Video tokenizer and Transformer; ``video_buckets`` = rows of the position tables (t, h, w),
    the native patch grid (other grids read the tables through the official spline)."""

    transformer: TransformerSize = BASE
    video_patch: tuple[int, int, int] = (4, 16, 16)
    video_buckets: tuple[int, int, int] = (8, 14, 14)

    def __post_init__(self):
        if len(self.video_patch) != 3 or len(self.video_buckets) != 3:
            raise ConfigError("video_patch and video_buckets need three entries (t, h, w)")


@dataclass(frozen=True)
class AudioCfg:
    """Waveform tokenizer and Transformer; ``audio_buckets`` = rows of the position table, the
    native number of patches."""

    transformer: TransformerSize = BASE
    audio_patch: int = 128
    audio_buckets: int = 1200


@dataclass(frozen=True)
class TextCfg:
    """Word-id text model: frozen ``vocab_size × embed_dim`` table, T5 relative bias."""

    transformer: TransformerSize = SMALL
    vocab_size: int = 2**16
    embed_dim: int = 300
    max_words: int = 16
    num_buckets: int = 32
    max_distance: int = 64
    trainable_embedding: bool = False


@dataclass(frozen=True)
class VattCfg:
    """A VATT model; ``modalities`` selects the encoders that are built."""

    video: VideoCfg = field(default_factory=VideoCfg)
    audio: AudioCfg = field(default_factory=AudioCfg)
    text: TextCfg = field(default_factory=TextCfg)
    modalities: tuple[str, ...] = MODALITIES
    modality_agnostic: bool = False
    post_dim: int = 1024
    drop_token_keep: float = 0.5
    spaces: SpacesCfg = field(default_factory=SpacesCfg)
    num_classes: int = 0
    head_dropout: float = 0.5
    drop_path: float = 0.0  # stochastic depth of the last block (linear from 0 at the first)

    def __post_init__(self):
        if not 0.0 <= self.drop_path < 1.0:
            raise ConfigError(f"drop_path must be in [0, 1), got {self.drop_path}")
        if not 0.0 < self.drop_token_keep <= 1.0:
            raise ConfigError(f"drop_token_keep must be in (0, 1], got {self.drop_token_keep}")
        check_joint_cfg(self.modalities, self.num_classes, self.spaces.kind)
        if self.modality_agnostic:
            sizes = {getattr(self, m).transformer for m in self.modalities}
            if len(sizes) != 1:
                raise ConfigError("a modality-agnostic VATT needs one Transformer size for all")


class WordEmbed(nn.Module):
    """Word ids ``[B, L]`` (0 = padding) → tokens ``[B, L', D]`` and validity ``[B, L']``.

    The ``vocab × embed_dim`` table is frozen unless ``trainable``. T5 style (``agg_dim``):
    a learned ``embed_dim`` aggregation token is prepended before the bias-free GELU
    pre-projection. VATT-MA style (``max_positions``): pre-projection with bias, then learned
    positions (LayerNorm; a text of another length than ``max_words`` reads the table through
    the official spline, :mod:`avpet.layers.spline`) and dropout; the encoder prepends the
    aggregation token.
    """

    def __init__(self, cfg: TextCfg, dim: int, modality_agnostic: bool, dropout: float, eps: float):
        super().__init__()
        self.table = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.table.weight.requires_grad_(cfg.trainable_embedding)
        self.agg = None if modality_agnostic else nn.Parameter(torch.randn(cfg.embed_dim) * 0.02)
        self.pre_proj = nn.Sequential(
            nn.Linear(cfg.embed_dim, dim, bias=modality_agnostic), nn.GELU()
        )
        self.pos = nn.Embedding(cfg.max_words, dim) if modality_agnostic else None
        self.norm = nn.LayerNorm(dim, eps=eps) if modality_agnostic else None
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        if ids.dim() != 2 or ids.dtype not in (torch.int32, torch.int64):
            raise ConfigError(
                f"text must be integer word ids [B, L], got {ids.dtype} {tuple(ids.shape)}"
            )
        x, valid = self.table(ids), ids != 0
        if self.agg is not None:
            x = torch.cat([self.agg.expand(x.shape[0], 1, -1), x], dim=1)
            valid = torch.cat([valid.new_ones(valid.shape[0], 1), valid], dim=1)
        x = self.pre_proj(x)
        if self.pos is not None:  # another length than the table's reads it through the spline
            x = x + self.norm(resample_table(self.pos.weight, ids.shape[1]))
        return self.drop(x), valid


class TokenInput(nn.Module):
    """Tokenizer → DropToken → aggregation token, and the attention bias for the Transformer.

    Returns tokens ``[B, 1 + N, D]`` (aggregation token first) and an additive attention bias
    (T5 relative positions and/or −1e9 on padding keys, ``[B or 1, H or 1, 1+N, 1+N]``) or None.
    """

    def __init__(
        self,
        tokenizer: nn.Module,
        dim: int,
        drop_token: DropToken | None = None,
        agg: bool = True,
        relative_bias: RelativePositionBias | None = None,
    ):
        super().__init__()
        self.tokenizer = tokenizer
        self.drop_token = drop_token
        self.agg = nn.Parameter(torch.randn(dim) * 0.02) if agg else None
        self.relative_bias = relative_bias

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        tokens = self.tokenizer(x)
        tokens, valid = tokens if isinstance(tokens, tuple) else (tokens, None)
        if self.drop_token is not None:
            tokens = self.drop_token(tokens)
        if self.agg is not None:
            tokens = torch.cat([self.agg.expand(tokens.shape[0], 1, -1), tokens], dim=1)
            if valid is not None:
                valid = torch.cat([valid.new_ones(valid.shape[0], 1), valid], dim=1)
        n = tokens.shape[1]
        bias = None if self.relative_bias is None else self.relative_bias(n, n)
        if valid is not None:
            pad = (~valid)[:, None, None, :].to(tokens.dtype) * PADDING_BIAS
            bias = pad if bias is None else bias + pad
        return tokens, bias


def _transformer(size: TransformerSize, t5: bool = False, drop_path: float = 0.0) -> PreNormEncoder:
    rates = [drop_path * i / max(size.depth - 1, 1) for i in range(size.depth)]
    blocks = [
        PreNormBlock(
            size.dim,
            size.heads,
            size.head_dim,
            size.mlp_dim,
            size.dropout,
            bias=not t5,
            eps=size.eps,
            rms_attn_norm=t5,
            scaled=not t5,
            drop_path=rate,
        )
        for rate in rates
    ]
    norm = nn.RMSNorm(size.dim, eps=size.eps) if t5 else nn.LayerNorm(size.dim, eps=size.eps)
    return PreNormEncoder(blocks, norm, size.dropout)


class VATT(JointModel):
    """Video / audio / text Transformers on raw signals, joint-space heads, optional classifier.

    Inputs: video ``[B, 3, F, H, W]`` (normalised by the input spec: [-1, 1] for the released
    weights), audio ``[B, S]`` or ``[B, 1, S]``
    waveform, text ``[B, L]`` word ids (0 = padding). Any of them may be omitted.
    """

    summary = (
        "per-clip video, audio and text Transformers on patches of the raw signals, with "
        "joint-space heads"
    )

    def __init__(self, cfg: VattCfg, pretrained_cfg: PretrainedCfg | None = None, name: str = ""):
        super().__init__()
        self.cfg = cfg
        self.pretrained_cfg = pretrained_cfg or PretrainedCfg()
        self.model_name = name
        agnostic = cfg.modality_agnostic
        self.inputs = nn.ModuleDict({m: self._input(m) for m in cfg.modalities})
        if agnostic:  # all sizes are equal (checked by VattCfg)
            size = getattr(cfg, cfg.modalities[0]).transformer
            self.transformers = nn.ModuleDict({SHARED: _transformer(size, drop_path=cfg.drop_path)})
        else:
            self.transformers = nn.ModuleDict(
                {
                    m: _transformer(getattr(cfg, m).transformer, m == "text", cfg.drop_path)
                    for m in cfg.modalities
                }
            )
        self.posts = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(getattr(cfg, m).transformer.dim, cfg.post_dim), nn.GELU()
                )
                for m in (cfg.modalities if agnostic else ())
            }
        )
        self.spaces = None
        if cfg.spaces.kind != "none":
            dims = {m: self.feature_dim(m) for m in cfg.modalities}
            self.spaces = JointSpaces(
                cfg.spaces, dims.get("video"), dims.get("audio"), dims.get("text")
            )
        self.head = self.make_classifier(cfg.num_classes)

    def feature_dim(self, modality: str) -> int:
        """Width of the pooled feature of ``modality``."""
        if self.cfg.modality_agnostic:
            return self.cfg.post_dim
        return getattr(self.cfg, modality).transformer.dim

    def _input(self, modality: str) -> TokenInput:
        cfg, agnostic = self.cfg, self.cfg.modality_agnostic
        size = getattr(cfg, modality).transformer
        if modality == "text":
            tokens = WordEmbed(cfg.text, size.dim, agnostic, size.dropout, size.eps)
            bias = None
            if not agnostic:
                bias = RelativePositionBias(size.heads, cfg.text.num_buckets, cfg.text.max_distance)
            return TokenInput(tokens, size.dim, agg=agnostic, relative_bias=bias)
        if modality == "video":
            video = cfg.video
            tokens = VideoPatchEmbed(
                size.dim, video.video_patch, video.video_buckets, size.dropout, size.eps, agnostic
            )
        else:
            audio = cfg.audio
            tokens = WavePatchEmbed(
                size.dim, audio.audio_patch, audio.audio_buckets, size.dropout, size.eps, agnostic
            )
        keep = cfg.drop_token_keep
        drop = DropToken(int(keep * tokens.max_tokens)) if keep < 1 else None
        return TokenInput(tokens, size.dim, drop_token=drop)

    def encode(self, modality: str, x: Tensor) -> Tensor:
        """Raw input of ``modality`` → Transformer outputs ``[B, 1 + N, D]`` (agg token first)."""
        if modality not in self.inputs:
            raise ConfigError(f"{self.model_name or 'this VATT'} has no {modality} encoder")
        tokens, bias = self.inputs[modality](x)
        out = self.transformers[SHARED if self.cfg.modality_agnostic else modality](tokens, bias)
        return self.posts[modality](out) if modality in self.posts else out

    def encode_clips(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """``{m}_tokens`` [B, 1+N, D] (aggregation token first) and ``{m}_pooled`` [B, D]."""
        out: dict[str, Tensor] = {}
        for modality, x in (("video", video), ("audio", audio), ("text", text)):
            if x is None:
                continue
            tokens = self.encode(modality, x)
            out[f"{modality}_tokens"] = tokens
            out[f"{modality}_pooled"] = tokens[:, 0]
        if not out:
            raise ConfigError("give at least one of video, audio, text")
        return out

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part (see :meth:`JointModel.base_counts`); a modality-agnostic model
        reports its ``shared_transformer`` apart from the per-modality counts."""
        agnostic = self.cfg.modality_agnostic
        parts = {
            m: (self.inputs[m], self.posts[m] if agnostic else self.transformers[m])
            for m in self.inputs
        }
        counts = self.base_counts(parts)
        if agnostic:
            counts["shared_transformer"] = count_parameters(self.transformers[SHARED])
        return counts


# ---- registry -------------------------------------------------------------------------------

LICENSE = "apache-2.0"
# What the official evaluation loaders feed (google-research vatt/, docs/hub.md cites each line):
# 32 frames at stride 2 of 25-fps sources (12.5 fps), the shorter side to 224 and a 224 centre
# crop with DMVR's resize_smallest / crop_image, pixels in [-1, 1] (zero_centering_image), and
# num_frames / REF_FPS = 3.2 s of raw 48 kHz audio.
PAPER_INPUT = InputSpec(
    num_clips=1,
    frames=32,
    fps=12.5,
    size=224,
    test_size=224,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    sample_rate=48000,
    audio_format="waveform",
    resize_style="dmvr",
    audio_seconds=3.2,
)
# The AudioSet classifiers' loader (Finetune config, audio_stride 2): every second sample of the
# 48 kHz waveform, 153,600 of them (6.4 s).
AUDIOSET_INPUT = replace(PAPER_INPUT, sample_rate=24000, audio_seconds=6.4)
SMALL_CPU = TransformerSize(dim=192, depth=4, heads=3, mlp_dim=768)

_SIZES: dict[str, tuple[VattCfg, InputSpec, str]] = {
    "vatt_base": (
        VattCfg(modalities=("video",), spaces=SpacesCfg(kind="none")),
        PAPER_INPUT,
        "VATT-Base video Transformer (fine-tuning architecture)",
    ),
    "vatt_medium": (
        VattCfg(
            video=VideoCfg(transformer=MEDIUM), modalities=("video",), spaces=SpacesCfg(kind="none")
        ),
        PAPER_INPUT,
        "VATT-Medium video Transformer (fine-tuning architecture)",
    ),
    "vatt_large": (
        VattCfg(
            video=VideoCfg(transformer=LARGE), modalities=("video",), spaces=SpacesCfg(kind="none")
        ),
        PAPER_INPUT,
        "VATT-Large video Transformer (fine-tuning architecture)",
    ),
    "vatt_bbs": (
        VattCfg(),
        PAPER_INPUT,
        "VATT pretraining model: video Base, audio Base, text Small",
    ),
    "vatt_mbs": (
        VattCfg(video=VideoCfg(transformer=MEDIUM)),
        PAPER_INPUT,
        "VATT pretraining model: video Medium, audio Base, text Small",
    ),
    "vatt_lbs": (
        VattCfg(video=VideoCfg(transformer=LARGE)),
        PAPER_INPUT,
        "VATT pretraining model: video Large, audio Base, text Small",
    ),
    "vatt_ma_medium": (
        VattCfg(
            video=VideoCfg(transformer=MEDIUM),
            audio=AudioCfg(transformer=MEDIUM),
            text=TextCfg(transformer=MEDIUM),
            modality_agnostic=True,
        ),
        PAPER_INPUT,
        "VATT-MA-Medium: one modality-agnostic Medium Transformer for all modalities",
    ),
    "vatt_small": (
        VattCfg(
            video=VideoCfg(transformer=SMALL_CPU, video_patch=(2, 16, 16), video_buckets=(4, 4, 4)),
            audio=AudioCfg(transformer=SMALL_CPU, audio_buckets=80),
            text=TextCfg(
                transformer=TransformerSize(dim=192, depth=2, heads=3, mlp_dim=768), vocab_size=4096
            ),
            spaces=SpacesCfg(va_dim=256, vt_dim=128),
        ),
        InputSpec(
            num_clips=1,
            frames=8,
            fps=12.5,
            size=64,
            test_size=64,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            sample_rate=16000,
            audio_format="waveform",
        ),  # fmt: skip
        "CPU-size VATT (video 8×64², 16 kHz audio, text) for GRID-scale experiments",
    ),
}

# The fine-tuned classifiers released with the official code (google-research vatt/README.md):
# video Transformers on Kinetics-400/600/700 and Moments in Time (339 classes), waveform
# Transformers on AudioSet (527 labels). ``ma`` ones start from the modality-agnostic model and
# keep its per-modality projections (``pre_tx_projection``, ``post_tx_projection``).
DATASET_CLASSES = {"k400": 400, "k600": 600, "k700": 700, "mit": 339, "audioset": 527}
DATASET_NAMES = {
    "k400": "Kinetics-400",
    "k600": "Kinetics-600",
    "k700": "Kinetics-700",
    "mit": "Moments in Time",
    "audioset": "AudioSet",
}
FINETUNED: dict[str, tuple[str, TransformerSize, bool, tuple[str, ...]]] = {
    "base": ("video", BASE, False, ("k400", "k600", "mit")),
    "medium": ("video", MEDIUM, False, ("k400", "k600", "mit")),
    "large": ("video", LARGE, False, ("k400", "k600", "k700", "mit")),
    "ma_medium": ("video", MEDIUM, True, ("k400", "k600", "mit")),
    "audio_base": ("audio", BASE, False, ("audioset",)),
    "ma_audio_medium": ("audio", MEDIUM, True, ("audioset",)),
}
for _size, (_modality, _width, _agnostic, _datasets) in FINETUNED.items():
    for _dataset in _datasets:
        _kind = "waveform" if _modality == "audio" else "video"
        _SIZES[f"vatt_{_size}_{_dataset}"] = (
            VattCfg(
                video=VideoCfg(transformer=_width),
                audio=AudioCfg(transformer=_width),
                modalities=(_modality,),
                modality_agnostic=_agnostic,
                spaces=SpacesCfg(kind="none"),
                num_classes=DATASET_CLASSES[_dataset],
            ),
            AUDIOSET_INPUT if _modality == "audio" else PAPER_INPUT,
            f"VATT {_size.replace('_', ' ')} {_kind} Transformer fine-tuned on "
            f"{DATASET_NAMES[_dataset]} (the official release's classifier)",
        )


VARIANTS: dict[str, tuple[VattCfg, PretrainedCfg]] = {
    name: (cfg, PretrainedCfg(input=spec, license=LICENSE, description=description))
    for name, (cfg, spec, description) in _SIZES.items()
}
register_models(VATT, VARIANTS)

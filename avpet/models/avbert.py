"""AVBERT (Lee et al., ICLR 2021): CNNs per modality, then parameter-shared Transformers.

Per clip a visual 3D ResNet and an audio 2D ResNet give one feature each; projected to width D,
a learned BOS token is prepended per modality and the sequences go through

* ``mid`` fusion (the paper's): a visual and an audio Transformer, then a multimodal Transformer
  over their concatenated outputs ``[BOS_v, v1..vT, BOS_a, a1..aT]``;
* ``early`` fusion: only the multimodal Transformer, over the concatenated embeddings;
* ``late`` fusion: only the two unimodal Transformers.

Registered as ``avpet[_small]_{early,mid,late}_{none,layer,all,lowrank}``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..config import InputSpec, PretrainedCfg, replace_nested
from ..data.grid import GRID_FRAME, GRID_MOUTH
from ..errors import ConfigError
from ..layers import Projection, SequenceEmbedding
from ..registry import register_models, register_pretrained
from .audio_resnet import AudioResNet, AudioResNetCfg
from .contract import AVModel, FeatureLevel
from .resnet3d import ResNet3d, ResNet3dCfg
from .transformers import SHARING_SCHEMES, StreamTransformers, TransformerCfg

FUSION_STREAMS: dict[str, tuple[str, ...]] = {
    "early": ("multimodal",),
    "mid": ("visual", "audio", "multimodal"),
    "late": ("visual", "audio"),
}
MODALITIES = ("visual", "audio")


@dataclass(frozen=True)
class AVBertCfg:
    """Architecture of an AVBERT model; every field can be overridden in ``create_model``."""

    visual: ResNet3dCfg = field(default_factory=ResNet3dCfg)
    audio: AudioResNetCfg = field(default_factory=AudioResNetCfg)
    transformer: TransformerCfg = field(default_factory=TransformerCfg)
    fusion: str = "mid"
    num_classes: int = 0
    head_dropout: float = 0.0

    def __post_init__(self):
        if self.fusion not in FUSION_STREAMS:
            raise ConfigError(f"fusion must be one of {list(FUSION_STREAMS)}, got {self.fusion!r}")
        if self.num_classes < 0:
            raise ConfigError(f"num_classes must be >= 0, got {self.num_classes}")

    @property
    def streams(self) -> tuple[str, ...]:
        return FUSION_STREAMS[self.fusion]


class ClassifierHeads(nn.Module):
    """The downstream heads: visual clip and audio heads on their BOS summaries, and a
    multimodal head on the pair ``[BOS_v ; BOS_a]``."""

    def __init__(self, dim: int, num_classes: int, dropout: float, eps: float):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.visual = nn.Linear(dim, num_classes)
        self.audio = nn.Linear(dim, num_classes)
        self.multimodal = nn.Sequential(
            nn.Linear(2 * dim, dim),
            nn.GELU(),
            nn.LayerNorm(dim, eps=eps),
            nn.Linear(dim, num_classes),
        )

    def forward(self, pooled: Tensor, kind: str) -> Tensor:
        """``pooled`` [B, D] (or [B, 2D] for ``kind="multimodal"``) → logits [B, num_classes]."""
        return getattr(self, kind)(self.drop(pooled))


class AVBert(AVModel):
    """Audio-visual Transformer over ``T`` clips per sequence (the contract of
    :mod:`avpet.models.contract`).

    Inputs: ``visual`` [B, T, 3, F, H, W] normalised RGB clips and ``audio`` [B, T, 1, M, L]
    log-mel spectrograms; either may be ``None`` to run one modality alone.
    """

    joint_level = "tokens"  # the projections put both modalities' clips in one space
    clips_alone = False
    default_task = "avbert"
    summary = (
        "per-clip visual and audio CNNs, projections to the Transformer width, unimodal "
        "Transformers and a multimodal one"
    )

    def __init__(self, cfg: AVBertCfg, pretrained_cfg: PretrainedCfg | None = None, name: str = ""):
        super().__init__()
        self.cfg = cfg
        self.pretrained_cfg = pretrained_cfg or PretrainedCfg()
        self.model_name = name
        tcfg = cfg.transformer
        dim = self.num_features = tcfg.dim
        self.visual_cnn = ResNet3d(cfg.visual)
        self.audio_cnn = AudioResNet(cfg.audio)
        self.visual_proj = Projection(self.visual_cnn.num_features, dim, tcfg.eps)
        self.audio_proj = Projection(self.audio_cnn.num_features, dim, tcfg.eps)
        self.bos = nn.Parameter(torch.empty(2, dim))
        embed = dict(max_positions=tcfg.max_positions, eps=tcfg.eps, dropout=tcfg.dropout)
        streams = cfg.streams
        self.visual_embed = SequenceEmbedding(dim, **embed) if "visual" in streams else None
        self.audio_embed = SequenceEmbedding(dim, **embed) if "audio" in streams else None
        self.multimodal_embed = (
            SequenceEmbedding(dim, num_types=2, **embed) if "multimodal" in streams else None
        )
        self.transformers = StreamTransformers(tcfg, streams)
        self.head = (
            ClassifierHeads(dim, cfg.num_classes, cfg.head_dropout, tcfg.eps)
            if cfg.num_classes
            else None
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """BERT-style init for embeddings and dense linears (std 0.02); CNNs keep PyTorch's."""
        nn.init.normal_(self.bos, std=0.02)
        for module in itertools.chain(self.transformers.modules(), self.embeddings()):
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear):
                    nn.init.zeros_(module.bias)

    def embeddings(self) -> list[nn.Module]:
        return [m for m in (self.visual_embed, self.audio_embed, self.multimodal_embed) if m]

    # ---- stages -------------------------------------------------------------------------

    def embed(self, visual: Tensor | None = None, audio: Tensor | None = None) -> dict[str, Tensor]:
        """CNN features ``{m}_cnn`` [B, T, C_m] and projected tokens ``{m}_tokens`` [B, T, D]."""
        out = {}
        for name, x, cnn, proj in (
            ("visual", visual, self.visual_cnn, self.visual_proj),
            ("audio", audio, self.audio_cnn, self.audio_proj),
        ):
            if x is None:
                continue
            b = x.shape[0]
            feats = rearrange(cnn(rearrange(x, "b t ... -> (b t) ...")), "(b t) c -> b t c", b=b)
            out[f"{name}_cnn"] = feats
            out[f"{name}_tokens"] = proj(feats)
        if not out:
            raise ConfigError("AVBert needs visual and/or audio input")
        return out

    def encode(
        self, visual_tokens: Tensor | None = None, audio_tokens: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Transformer levels from tokens [B, T, D], per given modality ``m``: ``m_unimodal``
        and ``m_multimodal`` [B, T, D] at the clip positions (those the fusion has) and the last
        stage's BOS summary ``m_bos`` [B, D]."""
        seqs = self.transformer_outputs(visual_tokens, audio_tokens)
        out: dict[str, Tensor] = {}
        present = [m for m in MODALITIES if m in seqs["input"]]
        for m in present:
            if m in seqs:
                out[f"{m}_unimodal"] = seqs[m][:, 1:]
                out[f"{m}_bos"] = seqs[m][:, 0]
        if "multimodal" in seqs:
            start = 0
            for m in present:
                t = seqs["input"][m]
                out[f"{m}_multimodal"] = seqs["multimodal"][:, start + 1 : start + 1 + t]
                out[f"{m}_bos"] = seqs["multimodal"][:, start]
                start += t + 1
        return out

    def transformer_outputs(
        self, visual_tokens: Tensor | None = None, audio_tokens: Tensor | None = None
    ) -> dict:
        """The raw Transformer sequences: ``visual``/``audio`` [B, T+1, D] (BOS first) of the
        unimodal Transformers, ``multimodal`` [B, 2T+2, D] over ``[BOS_v, v1..vT, BOS_a,
        a1..aT]`` (one modality's part when the other is not given), and ``input``: the clip
        count of each given modality."""
        streams = self.cfg.streams
        tokens = {"visual": visual_tokens, "audio": audio_tokens}
        present = [m for m in MODALITIES if tokens[m] is not None]
        if not present:
            raise ConfigError("AVBert needs visual and/or audio tokens")
        out: dict = {"input": {m: tokens[m].shape[1] for m in present}}
        with parametrize.cached():
            seqs = {m: self._with_bos(tokens[m], MODALITIES.index(m)) for m in present}
            for m in present:
                if m in streams:
                    embed = getattr(self, f"{m}_embed")
                    seqs[m] = out[m] = self.transformers(
                        embed(seqs[m], self._positions(seqs[m])), m
                    )
            if "multimodal" in streams:
                joint = torch.cat([seqs[m] for m in present], dim=1)
                positions = torch.cat([self._positions(seqs[m]) for m in present])
                types = torch.cat(
                    [
                        torch.full_like(self._positions(seqs[m]), MODALITIES.index(m))
                        for m in present
                    ]
                )
                out["multimodal"] = self.transformers(
                    self.multimodal_embed(joint, positions, types), "multimodal"
                )
        return out

    def _with_bos(self, tokens: Tensor, modality: int) -> Tensor:
        """Prepend modality ``modality``'s BOS: [B, T, D] → [B, T+1, D]."""
        bos = self.bos[modality].expand(tokens.shape[0], 1, -1)
        return torch.cat([bos, tokens], dim=1)

    def _positions(self, seq: Tensor) -> Tensor:
        if seq.shape[1] > self.cfg.transformer.max_positions:
            raise ConfigError(
                f"{seq.shape[1] - 1} clips exceed the {self.cfg.transformer.max_positions - 1} "
                "position slots of this model"
            )
        return torch.arange(seq.shape[1], device=seq.device)

    # ---- timm-style API ---------------------------------------------------------------------

    def feature_levels(self) -> tuple[FeatureLevel, ...]:
        """``cnn`` and ``tokens`` per clip, ``unimodal`` / ``multimodal`` per clip where the
        fusion has that Transformer, ``bos`` per sequence."""
        streams = self.cfg.streams
        dims = dict.fromkeys(MODALITIES, self.num_features)
        cnn = {"visual": self.visual_cnn.num_features, "audio": self.audio_cnn.num_features}
        levels = [
            FeatureLevel("cnn", cnn, description="the clip's CNN feature"),
            FeatureLevel("tokens", dims, shared=True, description="the CNN feature projected"),
        ]
        if "visual" in streams:
            levels.append(FeatureLevel("unimodal", dims, shared=True, description="unimodal"))
        if "multimodal" in streams:
            levels.append(FeatureLevel("multimodal", dims, shared=True, description="multimodal"))
        levels.append(FeatureLevel("bos", dims, per_clip=False, shared=True, description="BOS"))
        return tuple(levels)

    @property
    def default_level(self) -> str:
        """The unimodal Transformer output (the multimodal one for early fusion)."""
        return "unimodal" if "visual" in self.cfg.streams else "multimodal"

    def forward_features(
        self, visual: Tensor | None = None, audio: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Every level of every given modality ``m``: ``m_cnn`` [B, T, C_m], ``m_tokens``,
        ``m_unimodal``, ``m_multimodal`` [B, T, D] and ``m_bos`` [B, D]. With both modalities
        the multimodal levels see both (fused); a modality given alone is encoded alone."""
        feats = self.embed(visual, audio)
        feats.update(self.encode(feats.get("visual_tokens"), feats.get("audio_tokens")))
        return feats

    def joint_clips(self, modality: str, clips: Tensor) -> Tensor:
        """The projected CNN tokens of each clip ``[N, ...]`` → ``[N, D]`` (no Transformer: the
        tokens of a clip do not depend on the other clips)."""
        return self.embed(**{modality: clips.unsqueeze(0)})[f"{modality}_tokens"][0]

    def forward_head(self, features: dict[str, Tensor], pre_logits: bool = False) -> Tensor:
        """Pooled summary (``[BOS_v ; BOS_a]`` [B, 2D] with both modalities, else one BOS [B, D])
        or, with a head and ``pre_logits=False``, the logits of the matching head."""
        present = [m for m in MODALITIES if f"{m}_bos" in features]
        pooled = torch.cat([features[f"{m}_bos"] for m in present], dim=-1)
        if pre_logits or self.head is None:
            return pooled
        return self.head(pooled, "multimodal" if len(present) == 2 else present[0])

    def forward(self, visual: Tensor | None = None, audio: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(visual, audio))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute CNN blocks and Transformer layers in backward instead of storing their
        activations (timm API), for long sequences."""
        self.visual_cnn.grad_checkpointing = self.audio_cnn.grad_checkpointing = enable
        for encoder in self.transformers.encoders:
            encoder.grad_checkpointing = enable

    def get_classifier(self) -> nn.Module | None:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the heads by fresh ones for ``num_classes`` classes (0 removes them)."""
        self.cfg = replace_nested(self.cfg, num_classes=num_classes)
        tcfg = self.cfg.transformer
        self.head = (
            ClassifierHeads(tcfg.dim, num_classes, self.cfg.head_dropout, tcfg.eps).to(self.bos)
            if num_classes
            else None
        )

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part, as ``avpet info`` reports them (shared tensors counted once)."""

        def count(*modules: nn.Module | None) -> int:
            params = {id(p): p for m in modules if m is not None for p in m.parameters()}
            return sum(p.numel() for p in params.values())

        counts = {
            "total": count(self),
            "visual_cnn": count(self.visual_cnn),
            "audio_cnn": count(self.audio_cnn),
            "visual_proj": count(self.visual_proj),
            "audio_proj": count(self.audio_proj),
            "transformer": self.bos.numel() + count(self.transformers, *self.embeddings()),
        }
        if self.head is not None:
            counts["head"] = count(self.head)
        return counts


# ---- registry -------------------------------------------------------------------------------

LICENSE = "apache-2.0"

SIZES: dict[str, tuple[AVBertCfg, InputSpec]] = {
    # the official PySlowFast test pipeline (sangho-vision/avbert, docs/hub.md cites each line):
    # 32 frames over 64 / 30 s (linspace over the source frames), nearest-neighbour resize of the
    # shorter side to 128 and a 128 centre crop, mean 0.45 std 0.225, 44.1 kHz log-mel 80x128
    "": (AVBertCfg(), InputSpec(resize_style="pyslowfast", frame_sampling="linspace")),
    "small": (
        AVBertCfg(
            visual=ResNet3dCfg(
                layers=(1, 1, 1, 1), width=24, stem_kernel=(3, 7, 7), stem_stride=(2, 2, 2)
            ),
            audio=AudioResNetCfg(layers=(1, 1, 1, 1), width=24, stem_stride=2),
            transformer=TransformerCfg(dim=256, depth=2, heads=4, mlp_dim=1024, rank=64),
        ),
        InputSpec(
            num_clips=4,
            frames=8,
            fps=12.5,
            size=64,
            test_size=64,
            sample_rate=16000,
            n_mels=48,
            mel_frames=96,
        ),
    ),
}


VARIANTS: dict[str, tuple[AVBertCfg, PretrainedCfg]] = {
    "_".join(p for p in ("avpet", size, fusion, sharing) if p): (
        replace_nested(base, fusion=fusion, **SHARING_SCHEMES[sharing]),
        PretrainedCfg(input=spec, license=LICENSE),
    )
    for (size, (base, spec)), fusion, sharing in itertools.product(
        SIZES.items(), FUSION_STREAMS, SHARING_SCHEMES
    )
}
register_models(AVBert, VARIANTS)

register_pretrained(
    "avpet_small_mid_lowrank",
    PretrainedCfg(
        input=replace(SIZES["small"][1], roi=GRID_MOUTH, roi_frame=GRID_FRAME),
        hf_hub_id="avpet/avpet_small_mid_lowrank.grid_s1",
        license="cc-by-4.0",
        tag="grid_s1",
        description=(
            "avpet_small_mid_lowrank pretrained with MEP + CPP (CANS negatives) + AVC on the "
            "training clips of GRID speaker s1 (mouth region), self-supervised; CC BY 4.0 like the "
            "corpus."
        ),
    ),
)
register_pretrained(
    "avpet_small_mid_lowrank",
    PretrainedCfg(
        input=replace(
            SIZES["small"][1],
            frames=5,
            fps=25.0,
            mel_frames=30,
            roi=GRID_MOUTH,
            roi_frame=GRID_FRAME,
        ),
        hf_hub_id="avpet/avpet_small_mid_lowrank.sync_grid_s1",
        license="cc-by-4.0",
        tag="sync_grid_s1",
        description=(
            "avpet_small_mid_lowrank's CNNs and projections trained from grid_s1 to tell in-sync "
            "from time-shifted audio (0.2-s clips at 25 fps, shifted negatives) on the training "
            "clips of GRID speaker s1 (mouth region), self-supervised; the model of `avpet sync`. "
            "CC BY 4.0 like the corpus."
        ),
    ),
)

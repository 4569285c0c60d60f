"""MMV (Alayrac et al., NeurIPS 2020): CNN video / audio / text networks in joint spaces.

* Video: S3D-G (1024 features) or TSM-ResNet50 (2048; a 2D ResNet50 per frame with temporal
  shifts, averaged over frames). Input ``[B, 3, T, H, W]``, RGB in [0, 1].
* Audio: ResNet50 on log-mel spectrograms ``[B, 1, 80, L]`` (2048 features).
* Text: word ids ``[B, L]`` (0 = padding) → embedding table (word2vec's 300-d in the paper; no
  table is reachable here, so it starts random or from :meth:`WordPool.load_table`) →
  ``Linear(300, 2048) → ReLU`` → max-pool over the words.
* Spaces (:mod:`avpet.layers.spaces`): ``shared``, ``disjoint`` or ``fac`` (S_va 512, S_vat 256).
* Deflation (:func:`deflate`, :func:`relearn_batchnorm`): the video network turned into an image
  network, S3D-G by summing its temporal kernels, TSM by switching the shift off, then BN γ/β
  re-learned so that the image network on a frame matches the video network on the static clip.

Registered: the CPU-size ``mmv_small_{s3d,tsm}_{fac,shared,disjoint}``. The full-size names
``mmv_{s3d,tsm_resnet50,tsm_resnet50x2}_*`` are the authors' released networks
(:mod:`avpet.models.mmv_official`), whose video and audio networks differ from these in details
that change the weights' shapes.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from ..config import InputSpec, PretrainedCfg
from ..errors import ConfigError
from ..layers.resnet2d import ResNet2d, ResNet2dCfg
from ..layers.s3d import S3DG, S3DCfg
from ..layers.spaces import JointSpaces, SpacesCfg
from ..registry import register_models
from .joint import MODALITIES, JointModel, check_joint_cfg

VIDEO_BACKBONES = ("s3d", "tsm")
HEAD_KINDS = ("fac", "shared", "disjoint")  # the paper's joint spaces, each a registered variant


def check_video_backbone(name: str) -> None:
    """ConfigError unless ``name`` is one of :data:`VIDEO_BACKBONES`."""
    if name not in VIDEO_BACKBONES:
        raise ConfigError(f"video_backbone must be one of {VIDEO_BACKBONES}, got {name!r}")


@dataclass(frozen=True)
class WordPoolCfg:
    """Bag-of-words text: ``vocab_size × embed_dim`` table, ``Linear → ReLU`` to ``hidden``, max
    over the words; ``mask_padding=False`` lets padding (id 0) words into the max, as the released
    MMV code does."""

    vocab_size: int = 2**16
    embed_dim: int = 300
    hidden: int = 2048
    trainable_embedding: bool = False
    mask_padding: bool = True

    def __post_init__(self):
        if min(self.vocab_size, self.embed_dim, self.hidden) <= 0:
            raise ConfigError(f"invalid WordPoolCfg: {self}")


@dataclass(frozen=True)
class MMVCfg:
    """An MMV model; ``tsm_frames`` is the clip length the TSM shifts are built for."""

    video_backbone: str = "s3d"
    s3d: S3DCfg = field(default_factory=S3DCfg)
    tsm: ResNet2dCfg = field(default_factory=ResNet2dCfg)
    tsm_frames: int = 32
    audio: ResNet2dCfg = field(default_factory=lambda: ResNet2dCfg(in_channels=1))
    text: WordPoolCfg = field(default_factory=WordPoolCfg)
    modalities: tuple[str, ...] = MODALITIES
    spaces: SpacesCfg = field(default_factory=SpacesCfg)
    num_classes: int = 0
    head_dropout: float = 0.0

    def __post_init__(self):
        check_video_backbone(self.video_backbone)
        if self.tsm_frames < 0:
            raise ConfigError(f"tsm_frames must be >= 0, got {self.tsm_frames}")
        check_joint_cfg(self.modalities, self.num_classes, self.spaces.kind)


class TSMVideo(nn.Module):
    """TSM-ResNet: ``[B, 3, T, H, W]`` → per-frame 2D ResNet with shifts → mean over T."""

    def __init__(self, cfg: ResNet2dCfg, frames: int):
        super().__init__()
        self.frames = frames
        self.resnet = ResNet2d(cfg, frames)
        self.num_features = self.resnet.num_features

    def forward(self, video: Tensor) -> Tensor:
        b, _, t = video.shape[:3]
        if self.frames and t != self.frames:
            raise ConfigError(f"this TSM network takes clips of {self.frames} frames, got {t}")
        frames = video.transpose(1, 2).flatten(0, 1)  # [B·T, 3, H, W]
        return self.resnet(frames).unflatten(0, (b, t)).mean(dim=1)


class WordPool(nn.Module):
    """Word ids ``[B, L]`` (0 = padding) → ``max_words ReLU(W · e(word))`` ``[B, hidden]``."""

    def __init__(self, cfg: WordPoolCfg):
        super().__init__()
        self.table = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.table.weight.requires_grad_(cfg.trainable_embedding)
        self.proj = nn.Linear(cfg.embed_dim, cfg.hidden)
        self.num_features = cfg.hidden
        self.mask_padding = cfg.mask_padding

    def load_table(self, table: Tensor) -> None:
        """Replace the embedding table (e.g. word2vec vectors) by ``table`` [vocab, embed_dim]."""
        if tuple(table.shape) != tuple(self.table.weight.shape):
            raise ConfigError(
                f"word table has shape {tuple(table.shape)}, the model expects "
                f"{tuple(self.table.weight.shape)} (vocab_size, embed_dim)"
            )
        with torch.no_grad():
            self.table.weight.copy_(table)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.dim() != 2 or ids.dtype not in (torch.int32, torch.int64):
            raise ConfigError(f"text must be integer word ids [B, L], got {tuple(ids.shape)}")
        h = torch.relu(self.proj(self.table(ids)))
        if not self.mask_padding:
            return h.amax(dim=1)
        valid = (ids != 0)[..., None]
        # a sentence of padding only pools to zeros
        return h.masked_fill(~valid, float("-inf")).amax(dim=1).nan_to_num(neginf=0.0)


class MMV(JointModel):
    """MMV video, audio and text networks with joint-space heads and an optional classifier."""

    summary = (
        "per-clip video (S3D-G or TSM-ResNet50), log-mel audio (ResNet50) and bag-of-words text "
        "networks, with joint-space heads"
    )

    def __init__(self, cfg: MMVCfg, pretrained_cfg: PretrainedCfg | None = None, name: str = ""):
        super().__init__()
        self.cfg = cfg
        self.pretrained_cfg = pretrained_cfg or PretrainedCfg()
        self.model_name = name
        self.encoders = nn.ModuleDict({m: self.make_encoder(m) for m in cfg.modalities})
        self.spaces = None
        if cfg.spaces.kind != "none":
            dims = {m: self.encoders[m].num_features for m in cfg.modalities}
            self.spaces = self.make_spaces(dims.get("video"), dims.get("audio"), dims.get("text"))
        self.head = self.make_classifier(cfg.num_classes)

    def make_encoder(self, modality: str) -> nn.Module:
        """The network of ``modality`` (video, audio, text) that ``self.cfg`` describes."""
        cfg = self.cfg
        if modality == "video":
            if cfg.video_backbone == "s3d":
                return S3DG(cfg.s3d)
            return TSMVideo(cfg.tsm, cfg.tsm_frames)
        return ResNet2d(cfg.audio) if modality == "audio" else WordPool(cfg.text)

    def make_spaces(self, video: int | None, audio: int | None, text: int | None) -> nn.Module:
        """The joint-space heads for pooled features of these widths (``None``: absent)."""
        return JointSpaces(self.cfg.spaces, video, audio, text)

    def feature_dim(self, modality: str) -> int:
        """Width of the pooled feature of ``modality``."""
        return self.encoders[modality].num_features

    def encode_clips(
        self, video: Tensor | None = None, audio: Tensor | None = None, text: Tensor | None = None
    ) -> dict[str, Tensor]:
        """``{m}_pooled`` [B, C_m] for each given modality (video 1024/2048, audio 2048, text
        2048 at paper size)."""
        out: dict[str, Tensor] = {}
        for modality, x in (("video", video), ("audio", audio), ("text", text)):
            if x is None:
                continue
            if modality not in self.encoders:
                raise ConfigError(f"{self.model_name or 'this MMV'} has no {modality} network")
            out[f"{modality}_pooled"] = self.encoders[modality](x)
        if not out:
            raise ConfigError("give at least one of video, audio, text")
        return out

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part (see :meth:`JointModel.base_counts`)."""
        return self.base_counts({m: (encoder,) for m, encoder in self.encoders.items()})


# ---- deflation ------------------------------------------------------------------------------


def deflate(video_net: nn.Module) -> nn.Module:
    """The image network of a video network (MMV §3.3), weights copied.

    S3D-G: the same network with every temporal kernel (``k×1×1`` → ``1×1×1``, summed over time)
    and temporal stride set to 1. TSM: the same ResNet with the temporal shift switched off.
    The result takes ``[B, 3, 1, H, W]`` (a clip of one frame) and is in the same train/eval
    mode as ``video_net``.
    """
    if isinstance(video_net, S3DG):
        image_net = S3DG(replace(video_net.cfg, temporal=False))
        state = {
            key: value.sum(dim=2, keepdim=True) if value.shape != target.shape else value
            for (key, value), target in zip(
                video_net.state_dict().items(), image_net.state_dict().values(), strict=True
            )
        }
        image_net.load_state_dict(state)
        return image_net.train(video_net.training)
    if isinstance(video_net, TSMVideo):
        image_net = copy.deepcopy(video_net)
        image_net.frames = 0
        image_net.resnet.set_frames(0)
        return image_net
    raise ConfigError(f"cannot deflate a {type(video_net).__name__}: expected S3DG or TSMVideo")


def _is_bn(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def relearn_batchnorm(
    image_net: nn.Module,
    video_net: nn.Module,
    images: Tensor,
    frames: int,
    steps: int = 200,
    lr: float = 1e-3,
) -> tuple[float, float]:
    """Fit the BN γ/β of ``image_net`` so that ``image_net(frame) ≈ video_net(static clip)``.

    Both networks run in eval mode (running statistics fixed); only the BatchNorm affine
    parameters of ``image_net`` move, by Adam on the L1 distance between the two outputs.

    Args:
        images: ``[N, 3, H, W]`` frames; the static clip repeats each one ``frames`` times.

    Returns:
        The mean L1 distance before and after re-learning.
    """
    video_net.eval()
    image_net.eval()
    with torch.no_grad():
        target = video_net(images[:, :, None].expand(-1, -1, frames, -1, -1))
    bn_params = [p for m in image_net.modules() if _is_bn(m) for p in (m.weight, m.bias)]
    others = [p for p in image_net.parameters() if all(p is not q for q in bn_params)]
    saved = [p.requires_grad for p in others]
    for p in others:
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(bn_params, lr=lr)
    inputs = images[:, :, None]

    def distance() -> Tensor:
        return (image_net(inputs) - target).abs().mean()

    try:
        with torch.no_grad():
            before = distance().item()
        for _ in range(steps):
            optimizer.zero_grad()
            loss = distance()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            after = distance().item()
    finally:
        for p, flag in zip(others, saved, strict=True):
            p.requires_grad_(flag)
    return before, after


# ---- registry -------------------------------------------------------------------------------

LICENSE = "apache-2.0"
SMALL_INPUT = InputSpec(
    num_clips=1, frames=8, fps=12.5, size=64, test_size=64,
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), sample_rate=16000, n_mels=48, mel_frames=96,
)  # fmt: skip
SMALL_RESNET = ResNet2dCfg(layers=(1, 1, 1, 1), width=24)
SMALL = MMVCfg(
    s3d=S3DCfg(width=0.5),
    tsm=SMALL_RESNET,
    tsm_frames=8,
    audio=replace(SMALL_RESNET, in_channels=1),
    text=WordPoolCfg(vocab_size=4096, hidden=512),
    spaces=SpacesCfg(va_dim=256, vt_dim=128),
)


VARIANTS: dict[str, tuple[MMVCfg, PretrainedCfg]] = {
    f"mmv_small_{backbone}_{kind}": (
        replace(SMALL, video_backbone=backbone, spaces=replace(SMALL.spaces, kind=kind)),
        PretrainedCfg(
            input=SMALL_INPUT, license=LICENSE, description=f"CPU-size MMV {backbone} {kind} spaces"
        ),
    )
    for backbone, kind in itertools.product(VIDEO_BACKBONES, HEAD_KINDS)
}
register_models(MMV, VARIANTS)

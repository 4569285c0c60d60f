"""MMV: backbones, spaces, bag-of-words text, deflation (exact interior frames, BN re-learning)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import meta_model

import avpet
from avpet.config import from_dict, to_dict
from avpet.errors import ConfigError
from avpet.layers.resnet2d import ResNet2d, ResNet2dCfg
from avpet.layers.s3d import S3DG, S3DCfg
from avpet.models.mmv import TSMVideo, deflate, relearn_batchnorm

KINDS = ("fac", "shared", "disjoint")


def test_registry_has_every_variant_once():
    backbones = ("s3d", "tsm_resnet50", "tsm_resnet50x2", "small_s3d", "small_tsm")
    names = [f"mmv_{backbone}_{kind}" for backbone in backbones for kind in KINDS]
    assert avpet.list_models("mmv_*") == sorted(names)  # one MMV family: no second full size
    for name in names:
        assert avpet.get_pretrained_cfg(name).license


def test_the_papers_backbone_sizes():
    """avpet's own networks at the paper's size (the small variants' classes, widened): the
    paper's S3D-G and a torchvision ResNet50 without its classifier."""
    with torch.device("meta"):
        s3d = S3DG(S3DCfg())
        resnet = ResNet2d(ResNet2dCfg())
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    # torchvision's resnet50() has 25,557,032 parameters, its 1000-class fc 2,049,000 of them
    # (counted with torchvision 0.26; torchvision is no longer installed, see docs/install.md)
    assert count(resnet) == 25_557_032 - 2048 * 1000 - 1000
    assert abs(count(s3d) - 9.1e6) / 9.1e6 < 0.01  # S3D-G with gating


def small_inputs(batch=4):
    g = torch.Generator().manual_seed(0)
    video = torch.rand(batch, 3, 8, 64, 64, generator=g)
    audio = torch.randn(batch, 1, 64, 96, generator=g)
    text = torch.randint(1, 4096, (batch, 12), generator=g)
    return video, audio, text


@pytest.mark.parametrize("kind", KINDS)
def test_small_s3d_spaces(kind):
    model = avpet.create_model(f"mmv_small_s3d_{kind}")
    assert 3e6 < model.parameter_counts()["trainable"] < 6e6
    out = model.train().embed_clips(*small_inputs())
    assert out["video_va"].shape == out["audio_va"].shape
    assert out["video_vt"].shape == out["text_vt"].shape
    if kind == "shared":
        assert out["video_va"] is out["video_vt"]
    else:
        assert out["video_va"].shape == (4, 256) and out["video_vt"].shape == (4, 128)
    sum(v.square().mean() for v in out.values()).backward()
    assert model.encoders["text"].table.weight.grad is None  # frozen word table


def test_small_tsm_forward_and_clip_length():
    model = avpet.create_model("mmv_small_tsm_fac").eval()
    assert 2.5e6 < model.parameter_counts()["trainable"] < 6e6
    video, audio, _ = small_inputs(batch=2)
    with torch.no_grad():
        feats = model.encode_clips(video, audio)
    assert feats["video_pooled"].shape == (2, 768) and feats["audio_pooled"].shape == (2, 768)
    with pytest.raises(ConfigError, match="clips of 8 frames"):
        model.embed_clips(video=video[:, :, :4])


def test_word_pool_ignores_padding_and_loads_a_table():
    model = avpet.create_model("mmv_small_s3d_fac").eval()
    ids = torch.tensor([[7, 3, 0, 0], [0, 0, 0, 0]])
    with torch.no_grad():
        pooled = model.encode_clips(text=ids)["text_pooled"]
        trimmed = model.encode_clips(text=ids[:1, :2])["text_pooled"]
    torch.testing.assert_close(pooled[:1], trimmed)
    assert torch.all(pooled[1] == 0)
    words = model.encoders["text"]
    table = torch.randn(4096, 300)
    words.load_table(table)
    assert torch.equal(words.table.weight, table)
    with pytest.raises(ConfigError, match="vocab_size, embed_dim"):
        words.load_table(torch.randn(10, 300))


def warmed(net: torch.nn.Module, frames: int) -> torch.nn.Module:
    """A network whose BN running statistics are no longer the identity, in eval mode."""
    g = torch.Generator().manual_seed(1)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, frames, 32, 32, generator=g) * 2 + 0.5)
    return net.eval()


def smooth_images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=(32, 32), mode="bilinear")


def test_s3d_deflation_sums_temporal_kernels_exactly():
    video = warmed(S3DG(S3DCfg(width=0.125)), frames=4)
    image = deflate(video)
    assert image.cfg.temporal is False
    temporal = video.features[0][1][0].weight  # stem k×1×1 conv, [C, C, 7, 1, 1]
    torch.testing.assert_close(image.features[0][1][0].weight, temporal.sum(2, keepdim=True))
    # On a static clip, output frames whose receptive field avoids the temporal zero padding
    # equal the image network: stem stride 2, kernel 7, padding 3 over 9 frames → frame 2.
    frame = smooth_images(2, seed=0)
    with torch.no_grad():
        clip_out = video.features[0](frame[:, :, None].expand(-1, -1, 9, -1, -1))
        image_out = image.features[0](frame[:, :, None])
    for t in (2,):
        torch.testing.assert_close(clip_out[:, :, t], image_out[:, :, 0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(clip_out[:, :, 0], image_out[:, :, 0], atol=1e-3)  # padded edge


def test_tsm_deflation_turns_the_shift_off():
    video = warmed(TSMVideo(ResNet2dCfg(layers=(1, 1, 1, 1), width=8), frames=5), frames=5)
    image = deflate(video)
    block, flat = video.resnet.blocks[0], image.resnet.blocks[0]
    frames = video.resnet.stem(smooth_images(1, seed=2)).expand(5, -1, -1, -1)  # static clip
    with torch.no_grad():
        shifted, unshifted = block(frames), flat(frames)
    # one shift moves channels by one frame: interior frames of a static clip are unchanged
    torch.testing.assert_close(shifted[1:4], unshifted[1:4])
    assert not torch.allclose(shifted[0], unshifted[0])
    with pytest.raises(ConfigError, match="cannot deflate"):
        deflate(torch.nn.Linear(2, 2))


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["s3d", "tsm"])
def test_bn_relearning_matches_video_net_on_static_clips(backbone):
    """The deflated network's gap to the video network on static clips comes from the temporal
    zero padding (S3D-G) and the zero-filled shifts at the clip ends (TSM); a per-channel affine
    cannot undo it fully. Measured over seeds 0-2 (experiments/peers_report.py settings): S3D-G
    keeps 4-17 % of the gap, TSM 25-56 %; the bounds below leave margin over seed 0 (17 %,
    42-56 %)."""
    torch.manual_seed(0)
    frames = 4
    if backbone == "s3d":
        video = warmed(S3DG(S3DCfg(width=0.125)), frames)
    else:
        video = warmed(TSMVideo(ResNet2dCfg(layers=(1, 1, 1, 1), width=8), frames), frames)
    image = deflate(video)
    convs_before = [
        m.weight.clone()
        for m in image.modules()
        if isinstance(m, torch.nn.Conv3d | torch.nn.Conv2d)
    ]
    before, after = relearn_batchnorm(image, video, smooth_images(16, seed=3), frames, steps=40)
    assert after < 0.6 * before
    convs_after = [
        m.weight for m in image.modules() if isinstance(m, torch.nn.Conv3d | torch.nn.Conv2d)
    ]
    assert all(torch.equal(a, b) for a, b in zip(convs_before, convs_after, strict=True))
    # held-out static clips: the re-learned image network is closer to the video network
    test = smooth_images(8, seed=4)
    with torch.no_grad():
        target = video(test[:, :, None].expand(-1, -1, frames, -1, -1))
        fresh = (deflate(video)(test[:, :, None]) - target).abs().mean()
        relearned = (image(test[:, :, None]) - target).abs().mean()
    assert relearned < 0.75 * fresh


@pytest.mark.parametrize("name", ["mmv_tsm_resnet50_disjoint", "mmv_small_s3d_fac"])
def test_config_round_trips_through_json_data(name):
    cfg = meta_model(name).cfg
    assert from_dict(type(cfg), to_dict(cfg)) == cfg

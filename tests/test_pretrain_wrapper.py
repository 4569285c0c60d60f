"""The pretraining module: heads outside the backbone, losses and gradients, fusion checks."""

from __future__ import annotations

import math

import pytest
import torch

import avpet
from avpet.errors import ConfigError
from avpet.pretrain.config import CPPCfg, MEPCfg, NegativesCfg
from avpet.pretrain.wrapper import AVBertPretrainer


def _inputs(model, batch: int = 2):
    spec = model.pretrained_cfg.input
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(batch, *spec.visual_shape, generator=generator),
        torch.randn(batch, *spec.audio_shape, generator=generator),
    )


def test_heads_live_outside_the_backbone_and_every_parameter_learns():
    torch.manual_seed(0)
    backbone = avpet.create_model("avpet_small_mid_lowrank")
    counts = backbone.parameter_counts()
    module = AVBertPretrainer(backbone, MEPCfg(), CPPCfg(), NegativesCfg(num_negatives=4))
    assert backbone.parameter_counts() == counts
    assert not any(k.startswith(("mep", "cpp", "mask")) for k in backbone.state_dict())
    own = {n for n, _ in module.named_parameters() if not n.startswith("backbone.")}
    assert own and all(n.startswith(("mep_heads.", "cpp_head.", "mask_tokens")) for n in own)
    assert {n.split(".")[1] for n in own if n.startswith("mep_heads.")} == {
        "unimodal_visual",
        "unimodal_audio",
        "multimodal_visual",
        "multimodal_audio",
    }

    losses = module(*_inputs(backbone))
    assert set(losses) == {"loss", "mep", "cpp"} | {
        f"mep_{lv}_{m}" for lv in ("unimodal", "multimodal") for m in ("visual", "audio")
    }
    assert all(math.isfinite(v.item()) for v in losses.values())
    expected = losses["mep"] + losses["cpp"]
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    losses["loss"].backward()
    frozen = [n for n, p in module.named_parameters() if p.grad is None]
    assert frozen == []


def test_mep_levels_must_exist_in_the_fusion():
    backbone = avpet.create_model("avpet_small_early_lowrank")
    module = AVBertPretrainer(backbone, MEPCfg(), CPPCfg(), NegativesCfg())
    with pytest.raises(ConfigError, match="early fusion"):
        module(*_inputs(backbone))
    module = AVBertPretrainer(backbone, MEPCfg(levels=("multimodal",)), CPPCfg(), NegativesCfg())
    assert set(module(*_inputs(backbone))) == {
        "loss",
        "mep",
        "cpp",
        "mep_multimodal_visual",
        "mep_multimodal_audio",
    }

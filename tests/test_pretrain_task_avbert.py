"""The pretraining module: heads outside the backbone, losses and gradients, fusion checks."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

import avpet
from avpet.errors import ConfigError
from avpet.pretrain.config import AVCCfg, CPPCfg, MEPCfg, NegativesCfg
from avpet.pretrain.contrastive import milnce_loss
from avpet.pretrain.tasks import AVBertPretrainer


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
    no_avc = AVCCfg(weight=0.0)  # MEP + CPP alone: the paper's objective
    module = AVBertPretrainer(backbone, MEPCfg(), CPPCfg(), NegativesCfg(num_negatives=4), no_avc)
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
    no_avc = AVCCfg(weight=0.0)
    module = AVBertPretrainer(backbone, MEPCfg(), CPPCfg(), NegativesCfg(), no_avc)
    with pytest.raises(ConfigError, match="early fusion"):
        module(*_inputs(backbone))
    mep = MEPCfg(levels=("multimodal",))
    module = AVBertPretrainer(backbone, mep, CPPCfg(), NegativesCfg(), no_avc)
    assert set(module(*_inputs(backbone))) == {
        "loss",
        "mep",
        "cpp",
        "mep_multimodal_visual",
        "mep_multimodal_audio",
    }


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("avpet_small_mid_lowrank", "auto"),
        ("avpet_small_early_lowrank", "auto"),
        ("avpet_small_mid_lowrank", "tokens"),
    ],
)
def test_avc_term_adds_to_the_loss_and_reaches_the_cnns(name, level):
    torch.manual_seed(0)
    backbone = avpet.create_model(name, dropout=0.0, attn_dropout=0.0)
    mep, negatives = MEPCfg(levels=("multimodal",)), NegativesCfg(num_negatives=4)
    module = AVBertPretrainer(backbone, mep, CPPCfg(), negatives, AVCCfg(0.5, level, 0.1))
    losses = module(*_inputs(backbone))
    expected = losses["mep"] + losses["cpp"] + 0.5 * losses["avc"]
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    with torch.no_grad():  # NCE over every clip of the batch, the modalities encoded alone
        feats = backbone.embed(*_inputs(backbone))
        clips = [module._alone(m, feats).flatten(0, 1) for m in ("visual", "audio")]
        assert losses["avc"].item() == pytest.approx(milnce_loss(*clips, 0.1).item(), rel=1e-5)

    alone = AVBertPretrainer(
        backbone, replace(mep, weight=0.0), CPPCfg(weight=0.0), negatives, module.avc_cfg
    )
    alone(*_inputs(backbone))["loss"].backward()
    for cnn in (backbone.visual_cnn, backbone.audio_cnn):
        assert cnn.stem[0][0].weight.grad.abs().sum() > 0


def test_avc_features_are_those_the_evaluation_reads():
    """Each modality encoded alone, as avpet.eval.features does, at the evaluation's level."""
    from avpet.eval.features import modality_levels

    torch.manual_seed(0)
    backbone = avpet.create_model("avpet_small_mid_lowrank").eval()
    avc = AVCCfg(weight=1.0, level="auto")
    module = AVBertPretrainer(backbone, MEPCfg(), CPPCfg(), NegativesCfg(), avc)
    visual, audio = _inputs(backbone)
    with torch.no_grad():
        feats = backbone.embed(visual=visual, audio=audio)
        for modality, x in (("visual", visual), ("audio", audio)):
            torch.testing.assert_close(
                module._alone(modality, feats), modality_levels(backbone, modality, x)["unimodal"]
            )

"""The one model contract (avpet/models/contract.py), checked for every registered name."""

from __future__ import annotations

import pytest
import torch

import avpet
from avpet.data import resolve_data_config

B, T = 2, 2


def _sequences(model, clips: int):
    """Random visual ``[B, T, 3, F, S, S]`` and audio ``[B, T, ...]`` of the model's input spec."""
    spec = resolve_data_config(model).input
    visual = torch.rand(B, clips, *spec.visual_shape[1:])
    audio = torch.randn(B, clips, *spec.audio_shape[1:])
    return visual, audio


@pytest.mark.parametrize("name", avpet.list_models())
def test_every_model_keeps_the_contract(name):
    """Same call, named levels with the declared widths and scopes, a default and a joint level
    among them; on the meta device, so paper-size models cost no memory."""
    with torch.device("meta"):
        model = avpet.create_model(name).eval()
        levels = {level.name: level for level in model.feature_levels()}
        assert model.default_level in levels
        assert model.joint_level is None or levels[model.joint_level].shared
        assert model.default_task in ("avbert", "contrastive")
        clips = T if model.clips_alone else min(T, model.pretrained_cfg.input.num_clips)
        visual, audio = _sequences(model, clips)
        given = {
            m: x
            for m, x in (("visual", visual), ("audio", audio))
            if any(m in level.modalities for level in levels.values())
        }
        with torch.no_grad():
            feats = model.forward_features(**given)
    expected = {
        f"{m}_{name}" for name, level in levels.items() for m in level.modalities if m in given
    }
    assert set(feats) == expected
    for key, value in feats.items():
        modality, level_name = key.split("_", 1)
        level = levels[level_name]
        shape = (B, clips, level.dims[modality]) if level.per_clip else (B, level.dims[modality])
        assert tuple(value.shape) == shape, key

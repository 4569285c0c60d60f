"""create_model / list_models / configs in the timm manner."""

import json

import pytest
import torch

import avpet
from avpet.cli import main
from avpet.config import from_dict, to_dict
from avpet.models.avbert import AVBertCfg


def test_list_models_wildcards():
    assert avpet.list_models("avpet_small_mid_*") == [
        f"avpet_small_mid_{s}" for s in ("all", "layer", "lowrank", "none")
    ]
    assert "avpet_mid_lowrank" in avpet.list_models(["nothing*", "*mid_low*"])
    assert avpet.list_models("no_such_*") == []


def test_overrides_reach_nested_configs():
    model = avpet.create_model("avpet_small_mid_lowrank", rank=16, fusion="late", num_classes=2)
    assert model.cfg.transformer.rank == 16 and model.cfg.fusion == "late"
    assert model.cfg.streams == ("visual", "audio")


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("no_such_model", {}, "unknown model"),
        ("avpet_mid_lowrank.no_tag", {}, "no pretrained tag"),
        ("avpet_small_mid_lowrank", {"not_a_field": 1}, "unknown override"),
        ("avpet_small_mid_lowrank", {"fusion": "sideways"}, "fusion must be"),
        ("avpet_small_mid_lowrank", {"heads": 5}, "divisible"),
    ],
)
def test_bad_names_and_overrides(name, overrides, message):
    with pytest.raises(avpet.ConfigError, match=message):
        avpet.create_model(name, **overrides)


def test_pretrained_without_weights_is_a_clear_error():
    name = next(n for n in avpet.list_models("avpet_*") if not avpet.list_models(n + ".*", True))
    with pytest.raises(avpet.HubError, match="no published weights"):
        avpet.create_model(name, pretrained=True)


def test_config_round_trips_through_json():
    cfg = avpet.create_model("avpet_small_early_layer", num_classes=4).cfg
    again = from_dict(AVBertCfg, json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg


def test_cli_info_json(capsys):
    assert main(["info", "avpet_mid_lowrank", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == {
        "total": 43_778_080,
        "visual_cnn": 31_672_128,
        "audio_cnn": 5_839_840,
        "visual_proj": 1_575_168,
        "audio_proj": 788_736,
        "transformer": 3_902_208,
    }
    assert info["pretrained_cfg"]["input"]["frames"] == 32


def test_cli_reports_errors_without_a_traceback(capsys):
    assert main(["info", "no_such_model"]) == 3
    assert "unknown model" in capsys.readouterr().err


def test_same_seed_same_weights():
    torch.manual_seed(3)
    a = avpet.create_model("avpet_small_mid_lowrank").state_dict()
    torch.manual_seed(3)
    b = avpet.create_model("avpet_small_mid_lowrank").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ambiguous_override_must_name_its_part():
    with pytest.raises(avpet.ConfigError, match="several parts"):
        avpet.create_model("avpet_small_mid_lowrank", width=8)
    model = avpet.create_model("avpet_small_mid_lowrank", visual={"width": 8}, audio={"width": 16})
    assert model.cfg.visual.width == 8 and model.cfg.audio.width == 16


@pytest.mark.parametrize("name", avpet.list_models())
def test_every_registered_model_builds_with_its_config(name):
    with torch.device("meta"):
        model = avpet.create_model(name)
    assert model.model_name == name
    assert model.pretrained_cfg.license and model.pretrained_cfg.input.num_clips >= 1
    counts = model.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in model.parameters()) > 0


def test_untagged_name_keeps_the_generic_input_spec():
    tagged = avpet.get_pretrained_cfg("avpet_small_mid_lowrank.grid_s1")
    assert tagged.has_weights and tagged.input.roi is not None
    generic = avpet.create_model("avpet_small_mid_lowrank").pretrained_cfg
    assert not generic.has_weights and generic.input.roi is None
    # asking for weights without a tag picks the first published tag, as timm does
    assert avpet.get_pretrained_cfg("avpet_small_mid_lowrank", pretrained=True) == tagged

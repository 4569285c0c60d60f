"""Pretraining config: files, command-line overrides, validation with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avpet.errors import ConfigError
from avpet.pretrain.__main__ import split_overrides
from avpet.pretrain.config import PretrainCfg, load_config, save_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_overrides_reach_typed_fields():
    cfg = load_config(
        None,
        split_overrides(
            ["--optim.lr", "1e-3", "train.max_steps=7", "--negatives.strategy=random"]
            + ["mep.levels=multimodal", "optim.betas=0.9,0.98", "data.roi=[1,2,3,4]"]
        ),
    )
    assert cfg.optim.lr == 1e-3 and cfg.train.max_steps == 7
    assert cfg.negatives.strategy == "random"
    assert cfg.mep.levels == ("multimodal",)
    assert cfg.optim.betas == (0.9, 0.98)
    assert cfg.data.roi == (1, 2, 3, 4)


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr=fast", "expected float"),
        ("train.nope=1", "section.field"),
        ("negatives.strategy=hardest", "negatives.strategy"),
        ("mep.levels=unimodal,middle", "mep.levels"),
        ("mep.replace_probs=0.5,0.5,0.5", "sum to 1"),
        ("train.batch_size=1", "batch_size"),
        ("data.num_clips=0", "data.num_clips"),
    ],
)
def test_bad_overrides_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_file_round_trip_and_unknown_fields(tmp_path):
    cfg = load_config(None, ["train.seed=5", "negatives.num_negatives=4"])
    save_config(cfg, tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == cfg
    (tmp_path / "bad.json").write_text(json.dumps({"optim": {"learning_rate": 1}}))
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="broken.json: not valid JSON"):
        load_config(tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="missing.json"):
        load_config(tmp_path / "missing.json")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.json")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert isinstance(cfg, PretrainCfg) and cfg.data.train

"""Pretraining config: files, command-line overrides, validation with clear errors."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO_ROOT

from avpet.cli import main as avpet_main
from avpet.config import InputSpec, from_dict, to_dict
from avpet.data import DataConfig
from avpet.errors import ConfigError
from avpet.pretrain.cli import main as pretrain_main
from avpet.pretrain.cli import split_overrides
from avpet.pretrain.config import PretrainCfg, load_config, save_config, schedule_changes

CONFIGS = REPO_ROOT / "configs"


def test_overrides_reach_typed_fields():
    cfg = load_config(
        None,
        split_overrides(
            ["--optim.lr", "1e-3", "train.max_steps=7", "optim.warmup_steps=2"]
            + ["--negatives.strategy=random"]
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
        ("train.nope=1", r"unknown field\(s\) train.nope; fields of \[train\]: out_dir, "),
        ("trian.seed=1", "unknown config section 'trian'; sections: model, "),
        ("train.max_steps=50", r"optim.warmup_steps \(100\) must be below train.max_steps \(50\)"),
        ("negatives.strategy=hardest", "negatives.strategy"),
        ("mep.levels=unimodal,middle", "mep.levels"),
        ("mep.replace_probs=0.5,0.5,0.5", "sum to 1"),
        ("train.batch_size=1", "batch_size"),
        ("optim.lr=" + "[" * 50_000 + "]" * 50_000, "expected float"),
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
    with pytest.raises(ConfigError, match="optim.learning_rate; fields of .optim.: lr, "):
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


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"train": {"batch_size": 2.5}}', "TrainCfg.batch_size must be an integer, got 2.5"),
        ('{"train": {"batch_size": true}}', "TrainCfg.batch_size must be an integer, got True"),
        ('{"train": {"batch_size": 10000000}}', "batch_size must be in 2..65536"),
        ('{"train": {"out_dir": null}}', "TrainCfg.out_dir must be a string, got None"),
        ('{"train": {"out_dir": 5}}', "TrainCfg.out_dir must be a string, got 5"),
        ('{"train": {"out_dir": ""}}', "train.out_dir must not be empty"),
        ('{"optim": {"lr": Infinity}}', "OptimCfg.lr must be a finite number, got inf"),
        ('{"optim": {"lr": NaN}}', "OptimCfg.lr must be a finite number, got nan"),
        ('{"optim": {"lr": "fast"}}', "OptimCfg.lr must be a finite number, got 'fast'"),
        ('{"optim": {"betas": [0.9, [0.99]]}}', "OptimCfg.betas must be a list of 2"),
        ('{"data": {"num_clips": "4"}}', "DataSection.num_clips must be an integer or null"),
        ('{"data": {"num_workers": 100000}}', "num_workers must be in 0..256"),
        ('{"data": {"roi": [1, 2, "3", 4]}}', "DataSection.roi must be a list of 4"),
        ('{"mep": {"levels": "unimodal"}}', "MEPCfg.levels must be a list of a string"),
        ('{"model": {"name": {"a": {"b": []}}}}', "ModelSection.name must be a string"),
        ('{"data": "x"}', "section 'data' must be an object"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_bad_config_files_name_the_field_and_the_reason(tmp_path, text, reason):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(reason)) as error:
        load_config(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("num_clips", "4", "InputSpec.num_clips must be an integer, got '4'"),
        ("frames", 10**5, "InputSpec.frames must be in 1..256 frames per clip"),
        ("size", 20_000, "InputSpec.size must be in 1..1024 pixels"),
        ("sample_rate", 10**8, "InputSpec.sample_rate must be in 1000..192000 Hz"),
        ("fps", 0.001, "InputSpec.fps must be in 0.1..1000"),
        ("fps", float("nan"), "InputSpec.fps must be a finite number"),
        ("mean", "abc", "InputSpec.mean must be a list of 3"),
        ("mean", (0.1, None, 0.1), "InputSpec.mean must be a list of 3"),
        ("std", (0.0, 0.0, 0.0), "InputSpec.std must be positive"),
        ("std", (0.2, -1.0, 0.2), "InputSpec.std must be positive"),
        ("log_offset", 0.0, "log_offset must be in (0, 1)"),
        ("audio_format", None, "InputSpec.audio_format must be a string"),
        ("audio_seconds", 0.0, "InputSpec.audio_seconds must be in 0.001..60 seconds"),
        ("audio_seconds", "3.2", "InputSpec.audio_seconds must be a finite number or null"),
        ("resize_style", "bicubic", "resize_style must be one of 'avpet', 'dmvr', 'pyslowfast'"),
        ("frame_sampling", "every", "frame_sampling must be one of 'rate', 'linspace'"),
    ],
)
def test_input_spec_types_and_bounds(field, value, reason):
    with pytest.raises(ConfigError, match=re.escape(reason)):
        InputSpec(**{field: value})


def test_input_spec_bounds_the_whole_sequence():
    """Each size may be within bounds while their product is not: 21 clips of 256 frames at
    1024 pixels would be 2.6 TB of float32 per sequence."""
    with pytest.raises(ConfigError, match="exceeds the 268,435,456 limit; lower frames"):
        InputSpec(num_clips=21, frames=256, size=1024, test_size=1024, fps=30.0)
    with pytest.raises(ConfigError, match="a clip of frames / fps = 256 s is longer than 60 s"):
        InputSpec(frames=256, fps=1.0, size=16, test_size=16)
    assert InputSpec(num_clips=1, frames=32, size=224, test_size=224).frames == 32  # MMV's input


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("num_threads", 10**6, "DataConfig.num_threads must be in 0..256"),
        ("max_pixels", 1.5, "DataConfig.max_pixels must be an integer"),
        ("backend", "ffmpeg", "DataConfig.backend must be one of 'auto', 'decord', 'pyav'"),
        ("hflip", "0.5", "DataConfig.hflip must be a finite number"),
    ],
)
def test_data_config_types_and_bounds(field, value, reason):
    with pytest.raises(ConfigError, match=re.escape(reason)):
        DataConfig(**{field: value})


@pytest.mark.parametrize(
    "run", [lambda argv: avpet_main(["pretrain", *argv]), pretrain_main], ids=["avpet", "python-m"]
)
def test_avpet_pretrain_and_python_m_take_the_same_arguments(run, capsys):
    """``avpet pretrain`` is ``python -m avpet.pretrain``: overrides in both spellings,
    ``--print-config``, a bad value named on stderr."""
    assert run(["--print-config", "train.seed=3", "--optim.lr", "0.01"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["train"]["seed"] == 3 and printed["optim"]["lr"] == 0.01
    assert run(["optim.lr=x"]) == 3
    assert "optim.lr" in capsys.readouterr().err


def test_other_commands_still_refuse_unknown_arguments(capsys):
    with pytest.raises(SystemExit):
        avpet_main(["info", "avpet_small_mid_lowrank", "train.seed=3"])
    assert "unrecognized arguments: train.seed=3" in capsys.readouterr().err


def test_defaults_are_the_published_recipe():
    """Without a config file the objective is grid_small.json's: MEP + CPP + AVC on the tokens."""
    default, recipe = load_config(None), load_config(CONFIGS / "grid_small.json")
    for section in ("mep", "cpp", "avc", "negatives"):
        assert getattr(default, section) == getattr(recipe, section), section
    assert default.avc.weight > 0 and default.optim.lr == recipe.optim.lr


def test_schedule_changes_name_each_field():
    saved = to_dict(load_config(None))
    assert schedule_changes(saved, load_config(None)) == []
    changed = load_config(None, ["train.max_steps=2000", "optim.lr=5e-4"])
    assert schedule_changes(saved, changed) == [
        "optim.lr: 0.001 -> 0.0005",
        "train.max_steps: 1000 -> 2000",
    ]


def test_a_config_json_written_before_the_feeding_fields_loads_as_before():
    """hub/ repos written before ``resize_style``, ``frame_sampling`` and ``audio_seconds``
    existed load with avpet's behaviour: the new fields' defaults."""
    path = REPO_ROOT / "hub" / "avpet_small_mid_lowrank.grid_s1" / "config.json"
    spec = json.loads(path.read_text())
    spec = spec["pretrained_cfg"]["input"]
    assert not {"resize_style", "frame_sampling", "audio_seconds"} & spec.keys()
    loaded = from_dict(InputSpec, spec)
    assert (loaded.resize_style, loaded.frame_sampling, loaded.audio_seconds) == (
        "avpet",
        "rate",
        None,
    )
    assert loaded.clip_samples == round(loaded.frames / loaded.fps * loaded.sample_rate)

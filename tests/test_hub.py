"""Weights hub: every source a user names, against a real HTTP Hub on 127.0.0.1, and every way a
download or a checkpoint can be wrong."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT
from hub_server import HubServer, point_huggingface_hub_at

import avpet
from avpet.config import to_dict
from avpet.errors import CheckpointError, HubError
from avpet.hub import load_pretrained, push_to_hub, save_pretrained
from avpet.hub.card import NOT_MEASURED

NAME = "avpet_small_mid_lowrank"


def _model(name: str = NAME, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return avpet.create_model(name, **overrides)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """A small model (seed 1) saved as a hub repo folder."""
    model = _model(seed=1)
    folder = save_pretrained(model, tmp_path_factory.mktemp("hub") / f"{NAME}.test")
    return model, folder


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A running Hub; huggingface_hub points at it with an empty HF_HOME under tmp_path."""
    with HubServer() as server:
        point_huggingface_hub_at(monkeypatch, server.url, tmp_path / "hf_home")
        yield server


# ---- local sources and the repo layout --------------------------------------------------------


def test_local_dir_file_and_folder_sources_load_the_saved_weights(saved):
    reference, folder = saved
    for source in (f"local-dir:{folder}", str(folder / "model.safetensors"), str(folder)):
        model = avpet.create_model(NAME, pretrained=source)
        assert _same_weights(model, reference), source
    assert not _same_weights(_model(seed=2), reference)


def test_repo_layout_config_and_card(saved):
    model, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_name"] == NAME
    assert config["model_cfg"] == json.loads(json.dumps(to_dict(model.cfg)))
    assert (
        config["pretrained_cfg"]["input"]["sample_rate"] == model.pretrained_cfg.input.sample_rate
    )
    assert config["weights"]["bytes"] == (folder / "model.safetensors").stat().st_size

    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "avpet"
    assert card.data.license == model.pretrained_cfg.license
    assert f"{model.parameter_counts()['total']:,}" in card.text
    assert NOT_MEASURED in card.text


def test_card_with_metrics_lists_them_and_their_command(tmp_path):
    folder = save_pretrained(
        _model(), tmp_path, metrics={"visual_digit_acc": 0.61}, metrics_source="avpet eval grid"
    )
    text = (folder / "README.md").read_text()
    assert "| visual_digit_acc | 0.6100 |" in text and "avpet eval grid" in text
    assert NOT_MEASURED not in text


def test_loaded_repo_sets_its_pretrained_cfg(tmp_path):
    model = _model()
    spec = replace(model.pretrained_cfg.input, num_clips=2)
    model.pretrained_cfg = replace(model.pretrained_cfg, input=spec, tag="grid_s1")
    save_pretrained(model, tmp_path)
    loaded = avpet.create_model(NAME, pretrained=f"local-dir:{tmp_path}")
    assert loaded.pretrained_cfg.input.num_clips == 2 and loaded.pretrained_cfg.tag == "grid_s1"


# ---- integrity ----------------------------------------------------------------------------------


def _copy_repo(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "repo"))


def test_truncated_weights_in_a_repo_folder(saved, tmp_path):
    repo = _copy_repo(saved[1], tmp_path)
    weights = repo / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="truncated") as error:
        avpet.create_model(NAME, pretrained=f"local-dir:{repo}")
    assert str(weights) in str(error.value)
    # without config.json to compare with, the safetensors header still catches it
    with pytest.raises(CheckpointError, match="truncated"):
        avpet.create_model(NAME, pretrained=str(weights))


def test_corrupted_weights_same_size(saved, tmp_path):
    repo = _copy_repo(saved[1], tmp_path)
    weights = repo / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5000:-4000] = bytes(1000)
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted: SHA-256"):
        avpet.create_model(NAME, pretrained=f"local-dir:{repo}")


def test_an_unchanged_file_is_hashed_once_and_a_changed_one_again(saved, tmp_path, monkeypatch):
    from avpet.hub import weights

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(weights, "SETTLED_SECONDS", 0.0)
    repo = _copy_repo(saved[1], tmp_path)
    path = repo / "model.safetensors"
    hashed, real = [], weights.sha256_of
    monkeypatch.setattr(weights, "sha256_of", lambda p: hashed.append(p) or real(p))
    for _ in range(3):
        assert _same_weights(avpet.create_model(NAME, pretrained=f"local-dir:{repo}"), saved[0])
    assert len(hashed) == 1
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-5000:-4000] = bytes(1000)  # same size, same inode, the old modification time put back
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(CheckpointError, match="corrupted: SHA-256"):
        avpet.create_model(NAME, pretrained=f"local-dir:{repo}")
    assert len(hashed) == 2


def test_pretrained_models_are_built_without_random_init(saved, monkeypatch):
    calls = []
    real = torch.nn.init.normal_
    monkeypatch.setattr(torch.nn.init, "normal_", lambda t, *a, **k: calls.append(1) or real(t))
    model = avpet.create_model(NAME, pretrained=f"local-dir:{saved[1]}")
    assert not calls and _same_weights(model, saved[0])
    assert torch.nn.init.normal_ is not real  # put back as it was (the test's own patch)
    avpet.create_model(NAME)
    assert calls  # a model without weights still draws them


def test_damaged_header_and_non_safetensors_files(tmp_path, saved):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="corrupted safetensors header"):
        avpet.create_model(NAME, pretrained=str(garbage))
    disguised = tmp_path / "pickle.safetensors"
    torch.save(saved[0].state_dict(), disguised)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        avpet.create_model(NAME, pretrained=str(disguised))
    with pytest.raises(CheckpointError, match="no such file"):
        avpet.create_model(NAME, pretrained=str(tmp_path / "absent.safetensors"))


def test_pickle_checkpoints_are_refused(tmp_path, saved):
    checkpoint = tmp_path / "model.pt"
    torch.save(saved[0].state_dict(), checkpoint)
    with pytest.raises(CheckpointError, match="pickle checkpoints are refused") as error:
        avpet.create_model(NAME, pretrained=str(checkpoint))
    assert str(checkpoint) in str(error.value)


def test_local_dir_without_config_is_not_a_repo(tmp_path, saved):
    shutil.copy(saved[1] / "model.safetensors", tmp_path)
    with pytest.raises(CheckpointError, match="config.json"):
        avpet.create_model(NAME, pretrained=f"local-dir:{tmp_path}")


# ---- wrong architecture -------------------------------------------------------------------------


def test_config_json_of_another_architecture_is_refused(saved):
    with pytest.raises(CheckpointError, match="model_name is 'avpet_small_mid_lowrank'"):
        avpet.create_model("avpet_small_mid_layer", pretrained=f"local-dir:{saved[1]}")
    with pytest.raises(CheckpointError, match=r"transformer\.rank=64 \(this model: 32\)"):
        avpet.create_model(NAME, pretrained=f"local-dir:{saved[1]}", rank=32)


def test_missing_unexpected_and_misshapen_keys(saved):
    weights = str(saved[1] / "model.safetensors")
    with pytest.raises(CheckpointError, match="missing keys") as error:
        avpet.create_model("avpet_small_mid_layer", pretrained=weights)
    assert "unexpected keys" in str(error.value) and weights in str(error.value)
    with pytest.raises(CheckpointError, match=r"wrong shape .*\(3, 32, 256\)"):
        avpet.create_model(NAME, pretrained=weights, rank=32)


def test_a_pretrained_backbone_gets_a_fresh_head(saved):
    """timm's ``create_model(name, pretrained=..., num_classes=K)``: the backbone's weights, a new
    K-way head; ``drop_rate`` is timm's name for the head's dropout."""
    model = avpet.create_model(NAME, pretrained=str(saved[1]), num_classes=5, drop_rate=0.2)
    assert torch.equal(model.bos, saved[0].bos)
    assert model.cfg.num_classes == 5 and model.head.visual.out_features == 5
    assert model.head.drop.p == 0.2
    visual = torch.randn(1, *model.pretrained_cfg.input.visual_shape)
    assert model.eval()(visual=visual).shape == (1, 5)


def test_a_hub_repo_names_its_architecture(saved):
    """``create_model("local-dir:DIR")`` builds what the repo's config.json records (its fusion,
    rank, input spec), with its weights when ``pretrained=True``."""
    reference = _model(seed=5, rank=16)
    folder = save_pretrained(reference, saved[1].parent / "rank16")
    bare = avpet.create_model(f"local-dir:{folder}")
    assert bare.cfg == reference.cfg and not torch.equal(bare.bos, reference.bos)
    loaded = avpet.create_model(f"local-dir:{folder}", pretrained=True)
    assert _same_weights(loaded, reference)
    assert loaded.pretrained_cfg == reference.pretrained_cfg
    with pytest.raises(CheckpointError, match="config.json"):
        avpet.create_model(f"local-dir:{saved[1].parent / 'nowhere'}")


def test_non_strict_loading_accepts_a_new_head_but_never_wrong_shapes(saved):
    weights = saved[1] / "model.safetensors"
    model = _model(num_classes=5)
    load_pretrained(model, weights, strict=False)
    assert torch.equal(model.bos, saved[0].bos)
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_pretrained(_model(rank=32), weights, strict=False)


# ---- the Hub ----------------------------------------------------------------------------------


def test_hf_hub_repo_branch_and_commit(hub, saved, tmp_path):
    reference, folder = saved
    first = hub.publish("avpet/small", folder)
    newer = _model(seed=3)
    second = hub.publish("avpet/small", save_pretrained(newer, tmp_path / "v2"), branch="v2")
    assert _same_weights(avpet.create_model(NAME, pretrained="hf-hub:avpet/small"), reference)
    assert _same_weights(avpet.create_model("hf-hub:avpet/small", pretrained=True), reference)
    assert _same_weights(avpet.create_model(NAME, pretrained="hf-hub:avpet/small@v2"), newer)
    for sha, expected in ((first, reference), (second, newer)):
        assert _same_weights(
            avpet.create_model(NAME, pretrained=f"hf-hub:avpet/small@{sha}"), expected
        )
    snapshots = tmp_path / "hf_home" / "hub" / "models--avpet--small" / "snapshots"
    assert sorted(p.name for p in snapshots.iterdir()) == sorted([first, second])


def test_hub_id_and_revision_from_pretrained_cfg(hub, saved, tmp_path):
    hub.publish("avpet/small", save_pretrained(_model(seed=4), tmp_path / "main"))
    hub.publish("avpet/small", saved[1], branch="release")
    model = _model()
    model.pretrained_cfg = replace(
        model.pretrained_cfg, hf_hub_id="avpet/small", hf_hub_revision="release"
    )
    load_pretrained(model)
    assert _same_weights(model, saved[0])
    assert model.pretrained_cfg == saved[0].pretrained_cfg  # the repo's own pretrained config


def test_offline_uses_the_cache_and_reports_a_miss(hub, saved, monkeypatch, tmp_path):
    hub.publish("avpet/small", saved[1])
    avpet.create_model(NAME, pretrained="hf-hub:avpet/small")
    point_huggingface_hub_at(monkeypatch, hub.url, tmp_path / "hf_home", offline=True)
    requests = len(hub.requests)
    model = avpet.create_model(NAME, pretrained="hf-hub:avpet/small")
    assert _same_weights(model, saved[0]) and len(hub.requests) == requests
    with pytest.raises(HubError, match="not in the local cache .*HF_HUB_OFFLINE") as error:
        avpet.create_model(NAME, pretrained="hf-hub:avpet/other")
    assert "hf-hub:avpet/other" in str(error.value) and len(hub.requests) == requests


def test_hub_errors_name_the_repo_and_the_reason(hub, saved, tmp_path):
    hub.publish("avpet/small", saved[1])
    cases = {
        "hf-hub:avpet/absent": "repository not found",
        "hf-hub:avpet/small@nope": "revision 'nope' not found",
    }
    for source, reason in cases.items():
        with pytest.raises(HubError, match=reason) as error:
            avpet.create_model(NAME, pretrained=source)
        assert source in str(error.value)
    (tmp_path / "bare").mkdir()
    shutil.copy(saved[1] / "model.safetensors", tmp_path / "bare")
    hub.publish("avpet/bare", tmp_path / "bare")
    with pytest.raises(HubError, match="file 'config.json' not found"):
        avpet.create_model(NAME, pretrained="hf-hub:avpet/bare")


def test_truncated_and_corrupted_downloads(hub, saved):
    hub.publish("avpet/small", saved[1])
    hub.faults[("avpet/small", "model.safetensors")] = "truncate"
    with pytest.raises(HubError, match="downloading model.safetensors failed.*size"):
        avpet.create_model(NAME, pretrained="hf-hub:avpet/small")
    hub.faults[("avpet/small", "model.safetensors")] = "corrupt"
    with pytest.raises(CheckpointError, match="corrupted: SHA-256") as error:
        avpet.create_model(NAME, pretrained="hf-hub:avpet/small")
    assert "models--avpet--small" in str(error.value)


def test_push_to_hub_then_load(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    model = _model(seed=5)
    commit = push_to_hub(model, "someone/pushed", metrics={"a2v_r1": 0.5})
    files = hub.repos["someone/pushed"].commits[commit]
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert b"| a2v_r1 | 0.5000 |" in files["README.md"]
    loaded = avpet.create_model(NAME, pretrained="hf-hub:someone/pushed")
    assert _same_weights(loaded, model) and loaded.pretrained_cfg.hf_hub_id == "someone/pushed"
    assert ("POST", "/api/models/someone/pushed/commit/main") in hub.requests
    with pytest.raises(avpet.ConfigError, match="org/repo"):
        push_to_hub(model, "no-namespace")


# ---- the repository's own hub/ folder: every published repo loads as users will load it ---------

PUBLISHED = sorted(p for p in (REPO_ROOT / "hub").glob("*") if p.is_dir())


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_published_tag_resolution_order(hub, folder, monkeypatch, tmp_path):
    """``create_model("name.tag", pretrained=True)`` reads the Hub cache, else the copy shipped
    with the package (the committed folder), else the Hub; an explicit source is read as given."""
    from avpet.hub import sources

    hub_id = avpet.get_pretrained_cfg(folder.name).hf_hub_id
    assert hub_id, f"{folder.name} is not registered with a hub id"
    shipped = avpet.create_model(folder.name, pretrained=f"local-dir:{folder}")
    model = avpet.create_model(folder.name, pretrained=True)  # empty cache: the shipped copy
    assert _same_weights(model, shipped) and hub.requests == []
    assert model.pretrained_cfg == avpet.get_pretrained_cfg(folder.name)
    arch = folder.name.partition(".")[0]
    if avpet.list_models(arch + ".*", pretrained=True)[0] == folder.name:  # the default tag
        assert _same_weights(avpet.create_model(arch, pretrained=True), model)

    newer = avpet.create_model(folder.name, pretrained=f"local-dir:{folder}")
    with torch.no_grad():
        next(newer.parameters()).add_(1.0)
    hub.publish(hub_id, save_pretrained(newer, tmp_path / "newer", hf_hub_id=hub_id))
    assert _same_weights(avpet.create_model(folder.name, pretrained=f"hf-hub:{hub_id}"), newer)
    requests = len(hub.requests)
    assert _same_weights(avpet.create_model(folder.name, pretrained=True), newer)  # the cache
    assert len(hub.requests) == requests

    shutil.rmtree(tmp_path / "hf_home" / "hub")
    monkeypatch.setattr(sources, "bundled_folder", lambda repo_id: None)  # nothing shipped
    assert _same_weights(avpet.create_model(folder.name, pretrained=True), newer)  # the Hub
    assert len(hub.requests) > requests


def test_a_shipped_folder_serves_only_the_hub_id_it_records():
    from avpet.hub.bundled import bundled_folder

    name = PUBLISHED[0].name
    shipped = bundled_folder(avpet.get_pretrained_cfg(name).hf_hub_id)  # the wheel's, or hub/
    for file in ("config.json", "model.safetensors"):
        assert (shipped / file).read_bytes() == (PUBLISHED[0] / file).read_bytes()
    assert bundled_folder(f"someone-else/{name}") is None
    assert bundled_folder("avpet/not-published") is None


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_published_repo_folder_loads_strictly(folder):
    from huggingface_hub import ModelCard

    from avpet.hub import read_repo_config

    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = read_repo_config(folder / "config.json")
    assert folder.name == f"{config['model_name']}.{config['tag']}"
    assert ModelCard.load(folder / "README.md").data.library_name == "avpet"
    model = avpet.create_model(folder.name, pretrained=f"local-dir:{folder}")
    assert model.pretrained_cfg.tag == config["tag"]

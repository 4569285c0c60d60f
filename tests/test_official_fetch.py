"""``create_model(NAME, pretrained=True)`` for the authors' checkpoints (avpet.hub.official): the
fixtures written by the official code, served at the official paths by a local stand-in for
storage.googleapis.com (tests/official_server.py), downloaded, converted once, cached, reloaded
offline; interrupted, truncated and corrupted downloads."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from official_server import OfficialServer

import avpet
from avpet import registry
from avpet.cli import main
from avpet.config import PretrainedCfg
from avpet.convert import mmv, vatt
from avpet.convert.cards import MMV_CARDS, OFFICIAL
from avpet.errors import CheckpointError, HubError
from avpet.hub import official
from avpet.models import mmv_official
from avpet.models import vatt as vatt_model

FIXTURES = Path(__file__).parent / "fixtures"
VATT_RECORD = FIXTURES / "vatt_official"
MMV_PICKLE = FIXTURES / "mmv_official_s3d" / "mmv_s3d.pkl"
RELEASED_S3D = next(name for name in MMV_CARDS if "s3d" in name)  # the released S3D network


def _register(monkeypatch, name: str, model_cls, cfg, default: PretrainedCfg, released: str):
    """Register the fixture's tiny architecture ``name`` with the ``official`` tag of the
    released model ``released`` (same files, same licence): the server serves the fixture there."""
    tagged = replace(
        default, tag="official", official=avpet.get_pretrained_cfg(f"{released}.official").official
    )
    monkeypatch.setitem(registry._entries, name, registry.ModelEntry(model_cls, cfg))
    monkeypatch.setitem(registry._pretrained_cfgs, name, {"": default, "official": tagged})
    return tagged.official


@pytest.fixture
def tiny_vatt(monkeypatch):
    name, cfg = "vatt_fixture_tiny", vatt.infer_cfg(vatt.load_official(VATT_RECORD / "ckpt-1"))
    spec = replace(vatt_model.PAPER_INPUT, frames=4, fps=25.0, size=16, test_size=16)
    default = PretrainedCfg(input=replace(spec, sample_rate=4800), license="apache-2.0")
    monkeypatch.setitem(vatt_model.VARIANTS, name, (cfg, default))
    source = _register(monkeypatch, name, vatt_model.VATT, cfg, default, "vatt_bbs")
    index, data = source.files
    files = {
        index: (VATT_RECORD / "ckpt-1.index").read_bytes(),
        data: (VATT_RECORD / "ckpt-1.data-00000-of-00001").read_bytes(),
    }
    return name, files


@pytest.fixture
def tiny_mmv(monkeypatch):
    name, cfg = "mmv_fixture_tiny", mmv.infer_cfg(mmv.load_official(MMV_PICKLE))
    spec = replace(mmv_official.OFFICIAL_INPUT, frames=4, fps=25.0, size=16, test_size=16)
    default = PretrainedCfg(input=replace(spec, sample_rate=16000, n_mels=16, mel_frames=24))
    monkeypatch.setitem(mmv_official.VARIANTS, name, (cfg, default))
    source = _register(monkeypatch, name, mmv_official.MMVOfficial, cfg, default, RELEASED_S3D)
    return name, {source.files[0]: MMV_PICKLE.read_bytes()}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty HF_HOME, online (the suite's default is HF_HUB_OFFLINE=1)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "hf" / "avpet" / "official"


def _serve(monkeypatch, files: dict[str, bytes], **kwargs) -> OfficialServer:
    server = OfficialServer(files, **kwargs).__enter__()
    monkeypatch.setenv(official.ENDPOINT_VARIABLE, server.url)
    return server


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _converted(name: str, family: str, source: Path, tmp_path: Path) -> dict[str, torch.Tensor]:
    """The weights ``avpet convert-official`` writes for the same file."""
    out = tmp_path / f"direct-{name}"
    assert main(["convert-official", family, str(source), "--out", str(out)]) == 0
    return _state(avpet.create_model(f"local-dir:{out}", pretrained=True))


def test_first_call_downloads_converts_and_caches_then_loads_offline(
    tiny_vatt, env, tmp_path, monkeypatch, capsys
):
    name, files = tiny_vatt
    server = _serve(monkeypatch, files)
    model = avpet.create_model(name, pretrained=True)
    err = capsys.readouterr().err
    assert "Licence of these weights: Apache-2.0" in err
    assert "ckpt-500000.data-00000-of-00001" in err and "422k/422k" in err  # the progress bar
    assert [r[1] for r in server.requests] == list(files)
    assert sorted(p.name for p in (env / name).iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    assert not list((env / ".downloads").rglob("*"))  # the raw checkpoint is not kept
    config = json.loads((env / name / "config.json").read_text())
    assert config["model_name"] == name and config["tag"] == "official"
    assert model.pretrained_cfg.license == "apache-2.0" and model.pretrained_cfg.tag == "official"
    expected = _converted(name, "vatt", VATT_RECORD / "ckpt-1", tmp_path)
    assert all(torch.equal(v, expected[k]) for k, v in _state(model).items())

    server.close()  # no network, and offline: the cache alone, no conversion, no licence again
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    begin = time.perf_counter()
    again = avpet.create_model(f"{name}.official", pretrained=True)
    assert time.perf_counter() - begin <= 2.0
    assert "Licence" not in capsys.readouterr().err
    assert all(torch.equal(v, expected[k]) for k, v in _state(again).items())


def test_mmv_shows_its_non_commercial_licence_and_loads(
    tiny_mmv, env, tmp_path, monkeypatch, capsys
):
    name, files = tiny_mmv
    _serve(monkeypatch, files)
    model = avpet.create_model(name, pretrained=True)
    err = capsys.readouterr().err
    assert "CC BY-NC 4.0" in err and "non-commercial" in err
    assert model.pretrained_cfg.license == "cc-by-nc-4.0"
    expected = _converted(name, "mmv", MMV_PICKLE, tmp_path)
    assert all(torch.equal(v, expected[k]) for k, v in _state(model).items())


def test_an_interrupted_download_resumes_where_it_stopped(tiny_vatt, env, monkeypatch):
    name, files = tiny_vatt
    data = list(files)[1]
    server = _serve(monkeypatch, files)
    server.faults[data] = "truncate"
    with pytest.raises(HubError, match="interrupted after .* bytes; call again to resume"):
        avpet.create_model(name, pretrained=True)
    assert not (env / name).exists()
    partial = env / ".downloads" / name / (Path(data).name + official.PARTIAL_SUFFIX)
    kept = partial.stat().st_size
    assert 0 < kept < len(files[data])
    avpet.create_model(name, pretrained=True)
    assert server.requests[-1] == ("GET", data, f"bytes={kept}-")
    assert (env / name / "config.json").is_file()


@pytest.mark.parametrize("hashes", [True, False], ids=["x-goog-hash", "no-hash"])
def test_a_corrupted_download_is_an_error_and_caches_nothing(tiny_vatt, env, monkeypatch, hashes):
    """With the server's MD5 the download itself is refused; without it (a plain mirror), the
    TensorBundle's CRC-32C refuses the conversion. Either way nothing stays and the next call
    downloads afresh."""
    name, files = tiny_vatt
    data = list(files)[1]
    server = _serve(monkeypatch, files, hashes=hashes)
    server.faults[data] = "corrupt"
    reason = "MD5 differs from the server's" if hashes else "CRC|checksum|crc"
    with pytest.raises(CheckpointError, match=reason) as caught:
        avpet.create_model(name, pretrained=True)
    assert "download" in str(caught.value)
    assert not (env / name).exists()
    kept = [p.name for p in (env / ".downloads").rglob("*")]  # at most the verified index
    assert not [k for k in kept if ".data" in k or k.endswith(official.PARTIAL_SUFFIX)]
    avpet.create_model(name, pretrained=True)
    assert server.requests[-1] == ("GET", data, None)


def test_offline_or_unreachable_without_a_cache_is_a_clear_error(tiny_vatt, env, monkeypatch):
    name, _ = tiny_vatt
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError, match="not in the cache .* HF_HUB_OFFLINE is set"):
        avpet.create_model(name, pretrained=True)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv(official.ENDPOINT_VARIABLE, "http://127.0.0.1:9")
    with pytest.raises(HubError, match=f"cannot download .*{official.ENDPOINT_VARIABLE}"):
        avpet.create_model(name, pretrained=True)
    assert not (env / name).exists()


def test_a_missing_object_is_a_clear_error(tiny_vatt, env, monkeypatch):
    name, files = tiny_vatt
    _serve(monkeypatch, dict(list(files.items())[:1]))
    with pytest.raises(HubError, match="HTTP 404"):
        avpet.create_model(name, pretrained=True)


def test_avbert_has_no_public_url_and_says_how_to_convert_it(env):
    with pytest.raises(HubError, match="Google Drive") as caught:
        avpet.create_model("avpet_mid_lowrank", pretrained=True)
    assert "avpet convert-official avbert FILE --out DIR" in str(caught.value)
    assert "local-dir:DIR" in str(caught.value)


def test_every_released_checkpoint_is_an_official_tag_with_its_files():
    """The official READMEs' checkpoints, each under its registered architecture."""
    released = (
        {"vatt_bbs", "vatt_mbs", "vatt_lbs", "vatt_ma_medium"}
        | {
            f"vatt_{s}_{d}"
            for s in ("base", "medium", "ma_medium")
            for d in ("k400", "k600", "mit")
        }
        | {f"vatt_large_{d}" for d in ("k400", "k600", "k700", "mit")}
        | {"vatt_audio_base_audioset", "vatt_ma_audio_medium_audioset"}
        | set(MMV_CARDS)
        | {"avpet_mid_lowrank"}
    )
    assert set(OFFICIAL) == released
    assert avpet.list_models("*.official", pretrained=True) == sorted(
        f"{n}.official" for n in released
    )
    for name in released:
        source = avpet.get_pretrained_cfg(name, pretrained=True).official
        assert source is not None and source.family == name.split("_")[0].replace("avpet", "avbert")
    bbs = avpet.get_pretrained_cfg("vatt_bbs", pretrained=True).official.files
    assert bbs == (
        "tf_model_garden/vision/vatt/pretrain/tx_fac_bbs/ckpt-500000.index",
        "tf_model_garden/vision/vatt/pretrain/tx_fac_bbs/ckpt-500000.data-00000-of-00001",
    )
    k600 = avpet.get_pretrained_cfg("vatt_medium_k600.official").official.files[0]
    assert k600.endswith("vit_medium/k600_modality_specific_pretrain/ckpt-90000.index")
    audio = avpet.get_pretrained_cfg("vatt_ma_audio_medium_audioset.official").official.files[0]
    assert audio.endswith("wat_medium/audioset_modality_agnostic_pretrain/ckpt-50000.index")
    assert avpet.get_pretrained_cfg(f"{RELEASED_S3D}.official").official.files == (
        "deepmind-research-mmv/mmv_s3d.pkl",
    )


def test_avpet_info_lists_the_official_tag(capsys):
    assert main(["info", "vatt_bbs", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "vatt_bbs.official" in info["pretrained_tags"]


def test_the_cli_reports_a_failed_download_in_one_line(
    tiny_vatt, env, tmp_path, monkeypatch, capsys
):
    """``avpet extract --model NAME.official`` fetches as ``pretrained=True`` does: exit 3."""
    name, _ = tiny_vatt
    monkeypatch.setenv(official.ENDPOINT_VARIABLE, "http://127.0.0.1:9")
    clip = Path(__file__).parents[1] / "examples" / "grid_s1_bbaf2n.mp4"
    code = main(["extract", str(clip), "--model", f"{name}.official", "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        code == 3 and err[-1].startswith("avpet extract: error:") and "cannot download" in err[-1]
    )
    assert not (tmp_path / "f").exists()

"""What people expect of a library: ``avpet --version``, ``torch.hub.load`` from a clone, an
unambiguous ``--pretrained``, a tagged ``--model`` that loads its tag's weights, and missing
extras named (with the pip command) before any work starts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import avpet
from avpet.arguments import split_pretrained
from avpet.cli import build_parser, main
from avpet.pretrain.__main__ import main as pretrain_main

ROOT = Path(__file__).resolve().parents[1]
TAGGED = "avpet_small_mid_lowrank.grid_s1"
FOLDER = ROOT / "hub" / TAGGED
CLIP = str(ROOT / "examples" / "grid_s1_bbaf2n.mp4")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"avpet {avpet.__version__}"


def test_torch_hub_load_from_a_clone(tmp_path):
    """In a fresh process started elsewhere, as a user of a clone would call it."""
    code = (
        "import torch\n"
        f"m = torch.hub.load({str(ROOT)!r}, 'avpet_small_mid_lowrank', source='local', "
        f"pretrained='local-dir:{FOLDER}')\n"
        "print(type(m).__name__, m.pretrained_cfg.tag, sum(p.numel() for p in m.parameters()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    name, tag, params = done.stdout.split()
    expected = avpet.create_model("avpet_small_mid_lowrank")
    assert (name, tag) == ("AVBert", "grid_s1")
    assert int(params) == sum(p.numel() for p in expected.parameters())


@pytest.mark.parametrize(
    "argv, pretrained, videos",
    [
        (["--pretrained", "a.mp4"], True, ["a.mp4"]),  # a flag: never swallows the video
        (["a.mp4", "--pretrained"], True, ["a.mp4"]),
        (["--pretrained=local-dir:hub/x", "a.mp4"], "local-dir:hub/x", ["a.mp4"]),
        (["--pretrained", "hf-hub:org/repo", "a.mp4"], "hf-hub:org/repo", ["a.mp4"]),
        (["--pretrained", "w.safetensors", "a.mp4"], "w.safetensors", ["a.mp4"]),
        (["a.mp4"], False, ["a.mp4"]),
    ],
)
def test_pretrained_never_takes_a_video(argv, pretrained, videos):
    base = ["extract", "--model", "avpet_small_mid_lowrank", "--out", "f.safetensors"]
    args = build_parser().parse_args(split_pretrained([*base, *argv]))
    assert args.pretrained == pretrained and args.paths == videos


def _extract(argv: list[str], out: Path) -> dict[str, torch.Tensor]:
    """The features ``avpet extract CLIP ARGV --out OUT`` wrote for the clip."""
    assert main(["extract", CLIP, *argv, "--out", str(out)]) == 0
    return avpet.read_features(out / (Path(CLIP).name + ".safetensors")).features


@pytest.mark.slow
def test_a_tagged_model_loads_its_tags_weights(tmp_path):
    """``--model NAME.TAG`` alone gets the tag's weights, never random ones: offline with an empty
    Hub cache, the copy shipped with the package (tests/test_hub.py checks the whole order)."""
    tagged = _extract(["--model", TAGGED], tmp_path / "tagged")
    local = _extract(["--model", TAGGED, f"--pretrained=local-dir:{FOLDER}"], tmp_path / "local")
    random = _extract(["--model", "avpet_small_mid_lowrank"], tmp_path / "random")
    key = "visual_unimodal"
    torch.testing.assert_close(tagged[key], local[key], rtol=0, atol=0)
    assert not torch.allclose(tagged[key], random[key])


@pytest.fixture
def without(monkeypatch):
    """``without("sklearn")``: that package looks uninstalled."""
    real = importlib.util.find_spec

    def hide(*names):
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name, *a: None if name in names else real(name, *a)
        )

    return hide


def test_missing_eval_extra_stops_before_any_work(without, tmp_path, capsys):
    without("sklearn", "threadpoolctl")
    code = main(["eval", "fsdd", "--model", "avpet_small_mid_lowrank", "--data", str(tmp_path)])
    assert code != 0
    err = capsys.readouterr().err
    assert "avpet eval needs sklearn, threadpoolctl (not installed)" in err
    assert 'pip install "avpet[eval]"' in err and "Traceback" not in err


def test_missing_train_extra_stops_before_the_run_folder_exists(without, tmp_path, capsys):
    without("tensorboard")
    out = tmp_path / "run"
    assert pretrain_main([f"data.train={tmp_path}", f"train.out_dir={out}"]) != 0
    assert 'pip install "avpet[train]"' in capsys.readouterr().err
    assert not out.exists()


def test_missing_plot_extra(without, tmp_path, capsys):
    without("matplotlib")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    assert main(["plot-metrics", str(tmp_path), "--out", str(tmp_path / "x.png")]) != 0
    assert 'pip install "avpet[plot]"' in capsys.readouterr().err

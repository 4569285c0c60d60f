"""Build the official AVBERT (sangho-vision/avbert) from a fetched copy, for parity and speed.

Used by ``tools/official_parity.py`` and ``benchmarks/bench_official.py`` (docs/hub.md, "Parity
with the official code"); pyyaml (to read the official config) is needed only there. Nothing of
the official code is copied here: it is imported from the checkout given on the command line,
with small stand-ins for the two things it needs that are not plain PyTorch: fvcore's
``Registry`` and yacs's ``CfgNode`` (a dict with attribute access, filled from the official
``configs/<task>/config.yaml``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import types
from pathlib import Path

import torch

from .convert.avbert import convert_state_dict
from .factory import create_model
from .hub.weights import load_into
from .registry import get_pretrained_cfg


class _Registry:
    """Stand-in for ``fvcore.common.registry.Registry`` (the official code's only use of fvcore)."""

    def __init__(self, name: str):
        self._objects: dict[str, object] = {}

    def register(self, obj=None):
        def add(o):
            self._objects[o.__name__] = o
            return o

        return add(obj) if obj is not None else add

    def get(self, name: str):
        return self._objects[name]


class Attr(dict):
    """A dict with attribute access, standing in for the official yacs ``CfgNode``."""

    __getattr__ = dict.__getitem__


def official_code(path: Path) -> Path:
    """The official repo's ``code/`` folder, exported from a git directory if needed."""
    if (path / "code" / "models" / "avbert.py").is_file():
        return path / "code"
    target = Path(tempfile.mkdtemp(prefix="avbert-official-"))
    archive = subprocess.run(
        ["git", f"--git-dir={path}", "archive", "HEAD", "code"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "code"


def import_official(code: Path):
    """Import ``models.avbert`` from the official code without running its package ``__init__``
    (which pulls in the whole PySlowFast stack)."""
    fvcore = types.ModuleType("fvcore")
    fvcore.common = types.ModuleType("fvcore.common")
    fvcore.common.registry = types.ModuleType("fvcore.common.registry")
    fvcore.common.registry.Registry = _Registry
    sys.modules.update(
        {
            "fvcore": fvcore,
            "fvcore.common": fvcore.common,
            "fvcore.common.registry": fvcore.common.registry,
        }
    )
    # torch.solve(B, A) -> (X, LU) was removed in torch 1.9; the official expm still calls it
    torch.solve = lambda b, a: (torch.linalg.solve(a, b), None)
    package = types.ModuleType("models")
    package.__path__ = [str(code / "models")]
    sys.modules["models"] = package
    sys.path.insert(0, str(code))
    import models.avbert as official_avbert  # noqa: E402  (found through the path set above)
    from models.build import MODEL_REGISTRY

    return official_avbert, MODEL_REGISTRY


def to_attr(data):
    """Nested dicts (a parsed YAML config) as nested :class:`Attr`."""
    if isinstance(data, dict):
        return Attr({k: to_attr(v) for k, v in data.items()})
    if isinstance(data, str):  # YAML 1.1 reads "1e-5" as a string; yacs would give a float
        try:
            return float(data)
        except ValueError:
            return data
    return data


def official_config(code: Path, task: str = "kinetics-sounds", **transformer) -> Attr:
    """The official config of ``task`` (its ``config.yaml``), Transformer fields overridable."""
    import yaml  # optional: only the comparisons with the official code read its YAML configs

    cfg = to_attr(yaml.safe_load((code / "configs" / task / "config.yaml").read_text()))
    cfg.TRANSFORMER.update({k.upper(): v for k, v in transformer.items()})
    return cfg


def build_official_avbert(code: Path, cfg: Attr) -> torch.nn.Module:
    """The official ``AVBert`` with its real CNNs (``cfg.VIS.MODEL_NAME`` / ``AUD.MODEL_NAME``)."""
    official_avbert, _ = import_official(code)
    import models.audio_model_builder  # noqa: F401  (registers AudioResNet)
    import models.video_model_builder  # noqa: F401  (registers ResNet)

    return official_avbert.AVBert(cfg)


def paired_models(code: Path, clips: int, seed: int = 0):
    """The official model and avpet's, holding the same (random) weights."""
    torch.manual_seed(seed)
    cfg = official_config(code)
    cfg.DATA.SEQUENCE_LENGTH = clips
    theirs = build_official_avbert(code, cfg)
    with torch.no_grad():  # non-trivial BN statistics, so eval-mode outputs test the mapping
        for name, buffer in theirs.named_buffers():
            if name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                buffer.normal_(0, 0.1)
    ours = create_model("avpet_mid_lowrank")
    load_into(ours, convert_state_dict(theirs.state_dict(), "official AVBert"), "official AVBert")
    return theirs, ours


def random_inputs(clips: int, batch: int, seed: int = 1):
    spec = get_pretrained_cfg("avpet_mid_lowrank").input
    generator = torch.Generator().manual_seed(seed)
    visual = torch.randn(batch, clips, *spec.visual_shape[1:], generator=generator)
    audio = torch.randn(batch, clips, *spec.audio_shape[1:], generator=generator)
    return visual, audio


def multimodal_output(model: torch.nn.Module, which: str, visual, audio) -> torch.Tensor:
    """The multimodal output [B, 2T+2, D] of either implementation."""
    if which == "official":
        return model(visual_seq=[visual], audio_seq=audio)[2]
    tokens = model.embed(visual, audio)
    return model.transformer_outputs(tokens["visual_tokens"], tokens["audio_tokens"])["multimodal"]


def max_output_difference(code: Path, clips: int, batch: int) -> float:
    """Largest |official − avpet| of the multimodal output, same weights and input, eval mode."""
    theirs, ours = paired_models(code, clips)
    visual, audio = random_inputs(clips, batch)
    with torch.no_grad():
        expected = multimodal_output(theirs.eval(), "official", visual, audio)
        return (
            (multimodal_output(ours.eval(), "avpet", visual, audio) - expected).abs().max().item()
        )

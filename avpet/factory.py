"""``create_model``: build a registered architecture by name, or the one a hub repo's
``config.json`` names (``hf-hub:org/repo``, ``local-dir:DIR``), with or without its weights.

The tables live in :mod:`avpet.registry`, loading in :mod:`avpet.hub`; this module joins them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import Tensor, nn
from torch.nn import init

from .config import PretrainedCfg, from_dict, replace_nested
from .errors import CheckpointError, ConfigError, HubError
from .hub import load_pretrained, parse_source, read_repo_config, resolve_config
from .registry import get_model_entry, get_pretrained_cfg, list_models, split_model_name

REPO_PREFIXES = ("hf-hub:", "local-dir:")

# timm's argument names → the config fields of every family (where it has them)
TIMM_NAMES = {"drop_rate": "head_dropout", "drop_path_rate": "drop_path"}


def create_model(name: str, pretrained: bool | str = False, **overrides: Any) -> nn.Module:
    """Build a model by name, optionally with weights.

    Args:
        name: ``arch`` or ``arch.tag`` (see :func:`~avpet.registry.list_models`), or a hub repo,
            ``hf-hub:org/repo[@revision]`` / ``local-dir:DIR``, whose ``config.json`` names the
            architecture (``pretrained=True`` then loads that repo's weights).
        pretrained: ``True`` loads the weights the tag (or repo) names; an untagged name takes its
            first published tag. A string names the source itself: ``hf-hub:org/repo[@rev]``,
            ``local-dir:/path`` or a ``.safetensors`` file.
        **overrides: config fields to change (``rank=64``, ``fusion="early"``), timm's
            ``drop_rate`` / ``drop_path_rate``, and ``num_classes=K``: a fresh K-way head on the
            (pretrained) backbone.
    """
    if isinstance(pretrained, str) and not pretrained.strip():  # not random weights by mistake
        raise ConfigError("pretrained source is empty: give hf-hub:ORG/REPO, local-dir:DIR or FILE")
    num_classes = overrides.pop("num_classes", None)
    overrides = {TIMM_NAMES.get(key, key): value for key, value in overrides.items()}
    if name.startswith(REPO_PREFIXES):
        with _uninitialised(bool(pretrained)):
            model = _from_repo(name, overrides)
        source = name if pretrained is True else pretrained
    else:
        arch = split_model_name(name)[0]
        cfg = get_pretrained_cfg(name, pretrained=pretrained is True)
        if pretrained is True and not cfg.has_weights:
            raise HubError(
                f"model {name!r} has no published weights; pretrained tags: "
                f"{list_models(arch + '.*', pretrained=True) or 'none'}"
            )
        with _uninitialised(bool(pretrained)):
            model = _build(arch, get_model_entry(arch).cfg, cfg, overrides)
        source = pretrained if isinstance(pretrained, str) else None
    if pretrained:
        load_pretrained(model, source)  # strict: every parameter and buffer is overwritten
    if num_classes is not None and num_classes != model.cfg.num_classes:
        model.reset_classifier(num_classes)
    return model


@contextlib.contextmanager
def _uninitialised(skip: bool) -> Iterator[None]:
    """With ``skip``, modules built inside keep their freshly allocated parameters instead of
    drawing random ones (``torch.nn.init`` does nothing): the weights loaded next replace every
    one of them, and random init was most of the time of a pretrained ``create_model`` (5 s of
    ``vatt_bbs``'s 213 M parameters)."""
    if not skip:
        yield
        return
    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS}
    for name in _INIT_FUNCTIONS:
        setattr(init, name, _keep)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(init, name, function)


def _keep(tensor: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    return tensor


_INIT_FUNCTIONS = [n for n in dir(init) if n.endswith("_") and not n.startswith("_")]


def _build(arch: str, base: Any, pretrained_cfg: PretrainedCfg, overrides: dict) -> nn.Module:
    entry = get_model_entry(arch)
    return entry.model_cls(replace_nested(base, **overrides), pretrained_cfg, arch)


def _from_repo(name: str, overrides: dict) -> nn.Module:
    """The architecture and pretrained config a hub repo's ``config.json`` records."""
    path = resolve_config(parse_source(name))
    config = read_repo_config(path)
    entry = get_model_entry(config["model_name"])
    try:
        cfg = from_dict(type(entry.cfg), config["model_cfg"])
        pretrained_cfg = from_dict(PretrainedCfg, config["pretrained_cfg"])
    except ConfigError as error:
        raise CheckpointError(path, f"bad model_cfg or pretrained_cfg: {error}") from error
    return _build(config["model_name"], cfg, pretrained_cfg, overrides)

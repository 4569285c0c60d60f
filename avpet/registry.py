"""Model registry in the timm manner: names, pretrained tags, and ``create_model``.

A model name is ``family[_size]_fusion_sharing`` (``avpet_mid_lowrank``,
``avpet_small_mid_lowrank``); a pretrained variant adds a tag after a dot
(``avpet_small_mid_lowrank.grid_s1``). Every name has an untagged default config that carries its
input spec and licence but no weights.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from torch import nn

from .config import PretrainedCfg, replace_nested
from .errors import ConfigError, HubError

ModelBuilder = Callable[..., nn.Module]

_builders: dict[str, ModelBuilder] = {}
_pretrained_cfgs: dict[str, dict[str, PretrainedCfg]] = {}


def register_model(name: str, builder: ModelBuilder, default_cfg: PretrainedCfg) -> None:
    """Register ``builder(pretrained_cfg=..., **overrides) -> nn.Module`` under ``name``."""
    if name in _builders:
        raise ConfigError(f"model {name!r} is registered twice")
    _builders[name] = builder
    _pretrained_cfgs[name] = {"": replace(default_cfg, tag="")}


def register_configured(
    name: str, model_cls: Callable[..., nn.Module], base: Any, default_cfg: PretrainedCfg
) -> None:
    """Register ``name`` as ``model_cls(cfg, pretrained_cfg, name)``, where ``cfg`` is the config
    dataclass ``base`` with the caller's overrides applied (``replace_nested``)."""

    def build(pretrained_cfg: PretrainedCfg, **overrides: Any) -> nn.Module:
        return model_cls(replace_nested(base, **overrides), pretrained_cfg, name)

    build.__name__ = name
    build.__doc__ = f"Build ``{name}``."
    register_model(name, build, default_cfg)


def register_pretrained(name: str, cfg: PretrainedCfg) -> None:
    """Add the pretrained tag ``cfg.tag`` (with weights) to the registered model ``name``."""
    if name not in _builders:
        raise ConfigError(f"cannot add tag {cfg.tag!r}: model {name!r} is not registered")
    if not cfg.tag or not cfg.has_weights:
        raise ConfigError(f"pretrained tag for {name!r} needs a tag and a weights location")
    _pretrained_cfgs[name][cfg.tag] = cfg


def split_model_name(name: str) -> tuple[str, str]:
    """``"arch.tag"`` → ``("arch", "tag")``; a name without a tag gives ``("arch", "")``."""
    arch, _, tag = name.partition(".")
    return arch, tag


def list_models(pattern: str | list[str] = "*", pretrained: bool = False) -> list[str]:
    """Registered names matching the wildcard ``pattern`` (or any of a list of them).

    With ``pretrained=True`` the answer is every ``name.tag`` that has weights.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if pretrained:
        names = [f"{arch}.{tag}" for arch, tags in _pretrained_cfgs.items() for tag in tags if tag]
    else:
        names = list(_builders)
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def is_model(name: str) -> bool:
    return split_model_name(name)[0] in _builders


def get_pretrained_cfg(name: str, pretrained: bool = False) -> PretrainedCfg:
    """The pretrained config of ``name`` or ``name.tag``.

    An untagged name resolves to its weightless default config, whose input spec is generic (no
    dataset-specific crop), unless ``pretrained`` asks for weights: then, as in timm, to its first
    published tag if it has one.
    """
    arch, tag = split_model_name(name)
    if arch not in _builders:
        raise ConfigError(f"unknown model {arch!r}; see avpet.list_models()")
    tags = _pretrained_cfgs[arch]
    if not tag and pretrained:
        tag = next((t for t in tags if t), "")
    if tag not in tags:
        known = ", ".join(repr(t) for t in tags if t) or "none"
        raise ConfigError(f"model {arch!r} has no pretrained tag {tag!r} (tags: {known})")
    return tags[tag]


def create_model(name: str, pretrained: bool | str = False, **overrides: Any) -> nn.Module:
    """Build a registered model by name, optionally with weights.

    Args:
        name: ``arch`` or ``arch.tag`` (see :func:`list_models`).
        pretrained: ``True`` loads the weights the tag names (Hub id or file; an untagged name
            takes its first published tag); a string names the source itself:
            ``hf-hub:org/repo[@revision]``, ``local-dir:/path`` or a ``.safetensors`` file.
        **overrides: config fields to change (``num_classes=10``, ``rank=64``, ``fusion="early"``).
    """
    arch, _ = split_model_name(name)
    cfg = get_pretrained_cfg(name, pretrained=pretrained is True)
    model = _builders[arch](pretrained_cfg=cfg, **overrides)
    if pretrained:
        from .hub import load_pretrained

        if isinstance(pretrained, str):
            load_pretrained(model, pretrained)
        elif cfg.has_weights:
            load_pretrained(model)
        else:
            raise HubError(
                f"model {name!r} has no published weights; pretrained tags: "
                f"{list_models(arch + '.*', pretrained=True) or 'none'}"
            )
    return model

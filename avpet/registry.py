"""The model registry's tables in the timm manner: names, architectures, pretrained tags.

A model name is ``family[_size]_fusion_sharing`` (``avpet_mid_lowrank``,
``avpet_small_mid_lowrank``); a pretrained variant adds a tag after a dot
(``avpet_small_mid_lowrank.grid_s1``). Every name has an untagged default config that carries its
input spec and licence but no weights. Building a model is :mod:`avpet.factory`'s job; this module
imports nothing that builds or loads, so every other module can import it.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from .config import PretrainedCfg
from .errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    """One registered name: ``model_cls(cfg, pretrained_cfg, name)`` builds it from ``cfg``, the
    architecture config dataclass (the caller's overrides applied to it first)."""

    model_cls: Callable[..., nn.Module]
    cfg: Any


_entries: dict[str, ModelEntry] = {}
_pretrained_cfgs: dict[str, dict[str, PretrainedCfg]] = {}


def register_models(
    model_cls: Callable[..., nn.Module], variants: Mapping[str, tuple[Any, PretrainedCfg]]
) -> None:
    """Register every ``name: (cfg, default pretrained config)`` of ``variants`` as a
    ``model_cls`` (the one way model files register their names)."""
    for name, (cfg, default_cfg) in variants.items():
        if name in _entries:
            raise ConfigError(f"model {name!r} is registered twice")
        _entries[name] = ModelEntry(model_cls, cfg)
        _pretrained_cfgs[name] = {"": replace(default_cfg, tag="")}


def register_pretrained(name: str, cfg: PretrainedCfg) -> None:
    """Add the pretrained tag ``cfg.tag`` (with weights) to the registered model ``name``."""
    if name not in _entries:
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
        names = list(_entries)
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def is_model(name: str) -> bool:
    return split_model_name(name)[0] in _entries


def get_model_entry(name: str) -> ModelEntry:
    """The architecture registered as ``name`` (a tag, if any, is ignored)."""
    arch = split_model_name(name)[0]
    if arch not in _entries:
        close = difflib.get_close_matches(arch, list(_entries), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(f"unknown model {arch!r}; {hint}avpet list shows them all")
    return _entries[arch]


def get_pretrained_cfg(name: str, pretrained: bool = False) -> PretrainedCfg:
    """The pretrained config of ``name`` or ``name.tag``.

    An untagged name resolves to its weightless default config, whose input spec is generic (no
    dataset-specific crop), unless ``pretrained`` asks for weights: then, as in timm, to its first
    published tag if it has one.
    """
    arch, tag = split_model_name(name)
    get_model_entry(arch)
    tags = _pretrained_cfgs[arch]
    if not tag and pretrained:
        tag = next((t for t in tags if t), "")
    if tag not in tags:
        known = ", ".join(repr(t) for t in tags if t) or "none"
        raise ConfigError(f"model {arch!r} has no pretrained tag {tag!r} (tags: {known})")
    return tags[tag]

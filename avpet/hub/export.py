"""What a pretraining run's exported weights say about themselves (``RUN/final``): new weights
under no published tag or Hub id, no licence (the training data decide it: ``avpet push
--license``), a description naming the objective and the data folder (not its absolute path),
and the Hub repo they were continued from, if any."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import PretrainedCfg
from ..registry import get_pretrained_cfg
from .card import public_text
from .sources import parse_source


def run_pretrained_cfg(
    cfg: PretrainedCfg, recipe: Any, objective: str, steps: int, ranks: int
) -> PretrainedCfg:
    """``cfg`` of the trained backbone, made the run's own (``recipe``: the PretrainCfg)."""
    data = Path(recipe.data.train).name or recipe.data.train
    origin = recipe.model.pretrained or ("." in recipe.model.name and recipe.model.name)
    start = f", continued from {origin}" if origin else ""
    description = public_text(
        f"{recipe.model.name.partition('.')[0]} pretrained self-supervised with {objective} on "
        f"{data} ({steps} steps, {ranks} ranks{start})"
    )
    return replace(
        cfg, tag="", hf_hub_id=None, hf_hub_revision=None, file=None, license=None,
        description=description,
    )  # fmt: skip


def base_model_of(model: Any) -> str | None:
    """The Hub repo id a run started from (``model.pretrained`` or a tagged ``model.name``);
    ``None`` for random init or local weights."""
    if model.pretrained:
        source = parse_source(model.pretrained)
        return source.location if source.kind == "hf-hub" else None
    if "." in model.name:
        return get_pretrained_cfg(model.name).hf_hub_id
    return None

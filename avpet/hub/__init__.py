"""Pretrained weights: resolve ``hf-hub:`` / ``local-dir:`` / file sources, load safetensors into
a model with integrity checks, and save or push a model in the hub repo layout with its card.

Module map: :mod:`.sources` (where weights are), :mod:`.weights` (safetensors read/write/load),
:mod:`.repo` (config.json, save/push/load), :mod:`.card` (model cards).
"""

from .card import render_model_card
from .repo import load_pretrained, push_to_hub, read_repo_config, save_pretrained
from .sources import Source, parse_source, resolve, resolve_config, weights_request
from .weights import read_safetensors

__all__ = [
    "Source",
    "load_pretrained",
    "parse_source",
    "push_to_hub",
    "read_repo_config",
    "read_safetensors",
    "render_model_card",
    "resolve",
    "resolve_config",
    "save_pretrained",
    "weights_request",
]

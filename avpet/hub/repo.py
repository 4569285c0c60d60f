"""A published model repository: ``README.md`` (model card), ``config.json``, ``model.safetensors``.

``config.json`` names the registered model and holds its architecture config and pretrained
config, so the weights can be checked against (or used to rebuild) the right architecture, and the
SHA-256 and size of the weights file, so a damaged download is caught before loading.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from ..config import PretrainedCfg, from_dict, to_dict
from ..errors import CheckpointError, ConfigError, HubError
from ..registry import split_model_name
from .card import public_text, render_model_card
from .sources import (
    CARD_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    Source,
    endpoint_reachable,
    parse_source,
    read_json,
    resolve,
    resolve_published,
    weights_record,
)
from .weights import load_into, read_safetensors, sha256_of, verify_file, write_safetensors

FORMAT = "avpet"
FORMAT_VERSION = 1


def repo_config(
    model: nn.Module, weights: Path | None = None, hf_hub_id: str | None = None
) -> dict[str, Any]:
    """The ``config.json`` object for ``model`` (with the digest of ``weights`` if given; with
    ``hf_hub_id``, the pretrained config names the repo it is published in)."""
    arch, tag = split_model_name(model.model_name)
    pretrained = model.pretrained_cfg
    if hf_hub_id is not None:
        pretrained = replace(pretrained, hf_hub_id=hf_hub_id, hf_hub_revision=None)
    config: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": arch,
        "tag": tag or pretrained.tag,
        "architecture": type(model).__name__,
        "model_cfg": _jsonable(to_dict(model.cfg)),
        "pretrained_cfg": _jsonable(to_dict(pretrained)),
    }
    if weights is not None:
        config["weights"] = {
            "file": weights.name,
            "sha256": sha256_of(weights),
            "bytes": weights.stat().st_size,
        }
    return config


def save_pretrained(
    model: nn.Module,
    directory: str | Path,
    metrics: Mapping[str, float] | None = None,
    metrics_source: str | None = None,
    training_data: str | None = None,
    hf_hub_id: str | None = None,
    datasets: Sequence[str] = (),
    base_model: str | None = None,
) -> Path:
    """Write ``model`` as a hub repo folder: ``model.safetensors``, ``config.json``, ``README.md``.

    ``metrics`` (as printed by ``avpet eval``, keyed ``task/name``, with the command in
    ``metrics_source``) fill the card's results and ``model-index``; without them the card says
    the model is not yet measured. ``hf_hub_id`` is the repo the folder will be published as
    (recorded in its pretrained config and card); ``datasets`` (Hub dataset ids or names) and
    ``base_model`` (the Hub repo the weights were continued from) go into the card's metadata.
    Licence and description are the model's ``pretrained_cfg``'s.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_NAME
    write_safetensors(model, weights, metadata={"format": "pt", "model_name": model.model_name})
    config = repo_config(model, weights, hf_hub_id)
    if datasets:
        config["datasets"] = list(datasets)
    if base_model:
        config["base_model"] = base_model
    if metrics:
        config["metrics"] = dict(metrics)
        config["metrics_source"] = public_text(metrics_source) if metrics_source else None
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    card = render_model_card(model, config, metrics, metrics_source, training_data)
    (directory / CARD_NAME).write_text(card)
    return directory


def push_to_hub(
    model: nn.Module,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    **card_kwargs: Any,
) -> str:
    """Create ``repo_id`` if needed and upload ``model`` in the hub layout; returns the commit id.

    The Hub is the one at ``HF_ENDPOINT``; ``token`` defaults to ``HF_TOKEN`` / the saved login.
    ``card_kwargs`` go to :func:`save_pretrained`. Every failure is a :class:`HubError`.
    """
    Source("hf-hub", repo_id)  # validates "org/name"
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp, hf_hub_id=repo_id, **card_kwargs)
        return upload_folder(
            tmp,
            repo_id,
            revision=revision,
            private=private,
            commit_message=commit_message or f"Upload {model.model_name} with avpet",
            token=token,
        )


def upload_folder(
    folder: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str,
    token: str | None = None,
) -> str:
    """Upload a hub repo folder to ``repo_id`` (created if needed); returns the commit id."""
    from huggingface_hub import HfApi, constants

    where = f"hf-hub:{repo_id} ({constants.ENDPOINT})"
    if constants.HF_HUB_OFFLINE:
        raise HubError(f"{where}: cannot push: HF_HUB_OFFLINE is set")
    if not endpoint_reachable(constants.ENDPOINT):
        raise HubError(f"{where}: cannot push: the Hub is unreachable")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            revision=revision,
            commit_message=commit_message,
        )
    except Exception as error:  # HTTP statuses, and the transport's own errors (httpx, requests)
        raise HubError(f"{where}: push failed: {error}") from error
    return info.oid


def read_repo_config(path: Path) -> dict[str, Any]:
    """A repo's ``config.json``, checked to be an avpet config."""
    config = read_json(path)
    if config.get("format") != FORMAT:
        raise CheckpointError(path, f'not an avpet config.json (needs "format": "{FORMAT}")')
    for key, kind in (("model_name", str), ("model_cfg", dict), ("pretrained_cfg", dict)):
        if key not in config:
            raise CheckpointError(path, f"config.json lacks {key!r}")
        if not isinstance(config[key], kind):
            wanted = "a string" if kind is str else "an object"
            raise CheckpointError(path, f"{key!r} must be {wanted}, got {config[key]!r:.80}")
    weights_record(config, path)
    return config


def load_pretrained(
    model: nn.Module, source: str | Path | None = None, strict: bool = True
) -> nn.Module:
    """Load weights into ``model`` from ``source`` (default: its ``pretrained_cfg``), in place.

    Args:
        model: a registered model (``model_name``, ``cfg``, ``pretrained_cfg`` attributes).
        source: ``hf-hub:org/repo[@rev]``, ``local-dir:/path``, a ``.safetensors`` file or a
            hub-layout folder, read as given; ``None`` uses ``pretrained_cfg.hf_hub_id`` /
            ``hf_hub_revision`` (from the Hub cache, else the copy shipped with the package, else
            the Hub: :func:`~avpet.hub.sources.resolve_published`), else ``pretrained_cfg.file``,
            else the authors' checkpoint ``pretrained_cfg.official`` (downloaded and converted
            once, :mod:`avpet.hub.official`).
        strict: refuse missing or unexpected keys and a ``config.json`` whose model name or
            architecture config differs from ``model``'s (wrong shapes are always refused).

    With a repo ``config.json``, the weights' size and SHA-256 are checked first and the repo's
    pretrained config (input spec, hub id, licence) becomes ``model.pretrained_cfg``.
    """
    if source is None:
        resolved = resolve_published(_default_source(model))
    else:
        resolved = resolve(parse_source(source))
    repo_pretrained = None
    if resolved.config is not None:
        config = read_repo_config(resolved.config)
        _check_architecture(model, config, resolved.config, strict)
        record = weights_record(config, resolved.config)
        verify_file(resolved.weights, record.get("sha256"), record.get("bytes"))
        try:
            repo_pretrained = from_dict(PretrainedCfg, config["pretrained_cfg"])
        except ConfigError as error:
            raise CheckpointError(resolved.config, f"bad pretrained_cfg: {error}") from error
    state = read_safetensors(resolved.weights)
    load_into(model, state, str(resolved.weights), strict=strict)
    if repo_pretrained is not None:
        model.pretrained_cfg = repo_pretrained
    return model


def _default_source(model: nn.Module) -> Source:
    cfg: PretrainedCfg = model.pretrained_cfg
    if cfg.hf_hub_id:
        return Source("hf-hub", cfg.hf_hub_id, cfg.hf_hub_revision)
    if cfg.file:
        return parse_source(cfg.file)
    if cfg.official:
        from .official import official_repo

        return Source("local-dir", str(official_repo(model.model_name, cfg.official)))
    raise HubError(f"{model.model_name}: pretrained_cfg names no hf_hub_id or file to load")


def _check_architecture(model: nn.Module, config: dict, path: Path, strict: bool) -> None:
    """Compare ``config.json``'s model name and architecture config with ``model``'s."""
    arch = split_model_name(model.model_name)[0]
    problems = []
    if config["model_name"] != arch:
        problems.append(f"model_name is {config['model_name']!r}, this model is {arch!r}")
    ours = _jsonable(to_dict(model.cfg))
    problems += [
        f"{key}={theirs!r} (this model: {mine!r})"
        for key, theirs, mine in _differences(config["model_cfg"], ours)
        if not _is_training_only(key)
    ]
    if not problems:
        return
    message = "repo built for another architecture: " + "; ".join(problems)
    if strict:
        raise CheckpointError(path, message)
    warnings.warn(f"{path}: {message}", stacklevel=3)


def _is_training_only(key: str) -> bool:
    """Config fields that change no weight (dropout rates, the head a fresh one replaces)."""
    field = key.rsplit(".", 1)[-1]
    return "drop" in field or field == "num_classes"


def _differences(theirs: Any, mine: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Leaf fields that differ between two nested config dicts, as ``(dotted key, a, b)``."""
    if isinstance(theirs, dict) and isinstance(mine, dict):
        out = []
        for key in sorted(set(theirs) | set(mine)):
            out += _differences(theirs.get(key), mine.get(key), f"{prefix}{key}.")
        return out
    return [] if theirs == mine else [(prefix.rstrip("."), theirs, mine)]


def _jsonable(data: Any) -> Any:
    """Plain JSON types (tuples become lists), so configs compare equal after a round trip."""
    return json.loads(json.dumps(data))

"""Features of anyone's files for downstream code: :func:`extract_features` and
:func:`read_features` (the files ``avpet extract`` writes).

    for video in avpet.extract_features("videos/", "avpet_small_mid_lowrank", pretrained=True):
        video.features["visual_unimodal"]  # [N clips, 256]; video.start, video.end [N] seconds
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..data.config import resolve_data_config
from ..data.sources import find_media
from ..data.transforms import ClipTransform, create_transform
from ..errors import ConfigError, MediaError
from ..factory import create_model
from .pipeline import ExtractCfg, run
from .store import VideoFeatures, read_features

__all__ = ["ExtractCfg", "VideoFeatures", "extract_features", "read_features"]


def extract_features(
    paths: str | Path | list[str | Path],
    model: torch.nn.Module | str,
    *,
    pretrained: bool | str = False,
    roi: tuple[int, int, int, int] | str | None = "auto",
    on_error: str = "raise",
    skipped: list[MediaError] | None = None,
    data: dict[str, Any] | None = None,
    **options: Any,
) -> Iterator[VideoFeatures]:
    """Features of every media file ``paths`` point at (files, folders, globs, manifests; see
    :func:`avpet.data.sources.find_media`), one :class:`VideoFeatures` per file as it finishes.

    ``model``: a model or a name for :func:`avpet.create_model` (with ``pretrained``). ``roi``:
    ``"auto"`` (the crop the weights record, only on frames of the size it refers to), ``None``
    (whole frame), ``(top, bottom, left, right)`` or ``"face"``. ``on_error``: ``"raise"`` the
    first :class:`MediaError`, or ``"skip"`` unusable files; ``skipped``: a list that collects
    their errors and implies ``"skip"`` (each names its file and the reason). ``data``:
    overrides of the model's :class:`~avpet.data.DataConfig` (``{"backend": "pyav"}``).
    ``options``: :class:`ExtractCfg` fields (``batch_size``, ``workers``, ``device``,
    ``precision``, ``coverage``).
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error is 'raise' or 'skip', got {on_error!r}")
    model, transform, cfg = prepare(model, pretrained, roi, ExtractCfg(**options), **(data or {}))
    for _, result in run(find_media(paths), model, transform, cfg):
        if isinstance(result, MediaError):
            if on_error == "raise" and skipped is None:
                raise result
            if skipped is not None:
                skipped.append(result)
            continue
        yield result


def prepare(
    model: torch.nn.Module | str,
    pretrained: bool | str,
    roi: tuple[int, int, int, int] | str | None,
    cfg: ExtractCfg,
    **data_overrides: Any,
) -> tuple[torch.nn.Module, ClipTransform, ExtractCfg]:
    """The model (eval mode, on ``cfg.device``), its evaluation transform (``data_overrides``
    applied, the crop chosen by ``roi``: see :func:`extract_features`), and ``cfg``."""
    if isinstance(model, str):
        model = create_model(model, pretrained=pretrained)
    data = resolve_data_config(model, **data_overrides)
    if roi == "face":
        from ..data.face import require_opencv

        require_opencv()
    if roi != "auto":
        crop = roi if roi is None or isinstance(roi, str) else tuple(roi)
        data = resolve_data_config(data, roi=None if crop == "none" else crop)
    elif data.roi is not None and data.roi_frame is None:
        raise ConfigError(
            f"the weights record the crop {data.roi} but not the frame size it refers to; "
            "choose one with --roi none, --roi TOP BOTTOM LEFT RIGHT or --roi face"
        )
    try:
        model = model.to(cfg.device).eval()
    except (RuntimeError, AssertionError) as error:
        raise ConfigError(f"--device {cfg.device}: {error}") from error
    return model, create_transform(data, is_training=False), cfg

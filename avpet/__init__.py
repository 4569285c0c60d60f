"""avpet: parameter-efficient audio-visual Transformers, their peers, weights and recipe."""

from . import models as _models  # noqa: F401  (registers every model family)
from .config import InputSpec, PretrainedCfg
from .errors import (
    AvpetError,
    CheckpointError,
    ConfigError,
    HubError,
    MediaError,
    OutputError,
    TrainingError,
)
from .factory import create_model
from .features import extract_features, read_features
from .registry import get_pretrained_cfg, list_models

__version__ = "0.1.0"

__all__ = [
    "AvpetError",
    "CheckpointError",
    "ConfigError",
    "HubError",
    "InputSpec",
    "MediaError",
    "OutputError",
    "PretrainedCfg",
    "TrainingError",
    "create_model",
    "extract_features",
    "get_pretrained_cfg",
    "list_models",
    "read_features",
    "__version__",
]

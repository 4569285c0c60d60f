"""Media input: files → aligned audio/visual clips → model input, for extraction and training.

``io`` decodes (decord or PyAV), ``clips`` times the clips, ``transforms`` makes model input,
``loader`` reads one file, ``datasets`` serves many, ``cache`` keeps decoded clips on disk;
``config`` resolves it all from a model. ``grid`` and ``fsdd`` know the benchmark corpora.
"""

from .config import DataConfig, resolve_data_config
from .datasets import VideoDataset
from .io import MediaInfo, MediaReader, open_media, probe
from .loader import load_sample
from .transforms import ClipTransform, LogMel, create_transform

__all__ = [
    "ClipTransform",
    "DataConfig",
    "LogMel",
    "MediaInfo",
    "MediaReader",
    "VideoDataset",
    "create_transform",
    "load_sample",
    "open_media",
    "probe",
    "resolve_data_config",
]

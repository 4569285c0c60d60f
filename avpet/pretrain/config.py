"""The pretraining recipe as typed, frozen configuration, loadable from JSON.

Every choice the paper leaves open is a field here; docs/pretraining.md gives
each default and why. A config file holds any subset of the sections below; command-line
overrides name a field by ``section.field`` (``--optim.lr 1e-3`` or ``optim.lr=1e-3``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import check_range, check_types, from_dict, to_dict
from ..errors import ConfigError
from ..outputs import atomic_file
from .contrastive import TEMPERATURE

# the samplers of avpet.pretrain.negatives (a test checks that the two tables agree)
STRATEGIES = ("similar", "dissimilar", "random", "minibatch", "sequence")
TASK_NAMES = ("avbert", "contrastive")  # the table of avpet.pretrain.tasks (checked by a test)
LEVELS = ("unimodal", "multimodal")
TARGETS = ("tokens", "cnn")
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class ModelSection:
    """Which registered backbone to pretrain (``avpet.list_models()``) and where it starts.

    ``pretrained`` continues from existing weights: ``hf-hub:ORG/REPO[@REV]``, ``local-dir:DIR``
    or a ``.safetensors`` file (a tagged ``name``, ``NAME.TAG``, starts from the tag's weights
    without it); ``None``: random initialisation. Heads (MEP, CPP, AVC) always start fresh.
    """

    name: str = "avpet_small_mid_lowrank"
    pretrained: str | None = None

    def __post_init__(self):
        check_types(self)


@dataclass(frozen=True)
class DataSection:
    """Where the training clips come from.

    ``train`` is a folder of videos or a CSV manifest (decoded with :mod:`avpet.data`), a clip
    cache (:mod:`avpet.data.cache`, written by ``avpet cache``; it records its crop, which the
    loop exports with the weights), or shards (:mod:`avpet.data.shards`, written by ``avpet
    shard``: a folder, its ``shards.json``, or an ``s3://``, ``gs://`` or ``https://`` prefix),
    streamed through a buffer of ``shuffle_buffer`` videos per worker. For videos and shards:
    ``roi`` crops source pixels (rows top:bottom, columns left:right) before resizing, ``augment``
    draws random clip starts and augmentations, ``skip_bad_files`` logs and skips unreadable files
    (and shards) instead of stopping. ``num_clips`` overrides
    the model's clips per sequence: a peer (VATT, MMV) contrasts every clip of a batch's ``B·T``
    as a sample of its own, so ``num_clips`` 4 trains it on AVBERT's sequences (what the GRID
    comparison does).
    """

    train: str = ""
    num_workers: int = 2
    roi: tuple[int, int, int, int] | None = None
    num_clips: int | None = None
    augment: bool = True
    skip_bad_files: bool = True
    shuffle_buffer: int = 64

    def __post_init__(self):
        check_types(self)
        check_range(self, "num_workers", 0, 256, "processes")
        check_range(self, "shuffle_buffer", 1, 1_000_000, "samples")
        _check(self.roi is None or len(self.roi) == 4, "data.roi is (top, bottom, left, right)")
        _check(
            self.num_clips is None or self.num_clips >= 1,
            f"data.num_clips must be >= 1, got {self.num_clips}",
        )


@dataclass(frozen=True)
class NegativesCfg:
    """How MEP picks negatives for each masked position (CANS; docs/pretraining.md)."""

    strategy: str = "similar"
    num_negatives: int = 16
    interval: float = 0.95

    def __post_init__(self):
        check_types(self)
        _check(self.strategy in STRATEGIES, f"negatives.strategy must be one of {STRATEGIES}")
        check_range(self, "num_negatives", 1, 65536, "negatives")
        _check(0.0 < self.interval <= 1.0, "negatives.interval must be in (0, 1]")


@dataclass(frozen=True)
class MEPCfg:
    """Masked embedding prediction.

    ``replace_probs`` are the chances that a masked token becomes the learned mask token, a random
    token of the batch, or stays unchanged (BERT's 80/10/10). ``levels`` are the Transformer
    outputs the prediction is made from. ``target`` is the embedding x the critic scores (and CANS
    measures distances between): the projected tokens the Transformer takes (``"tokens"``, before
    masking) or the raw CNN features (``"cnn"``).
    """

    mask_ratio: float = 0.2
    replace_probs: tuple[float, float, float] = (0.8, 0.1, 0.1)
    levels: tuple[str, ...] = ("unimodal", "multimodal")
    target: str = "tokens"
    weight: float = 1.0

    def __post_init__(self):
        check_types(self)
        _check(0.0 < self.mask_ratio < 1.0, "mep.mask_ratio must be in (0, 1)")
        _check(
            len(self.replace_probs) == 3 and min(self.replace_probs) >= 0,
            "mep.replace_probs must be three non-negative numbers (mask, random, keep)",
        )
        _check(abs(sum(self.replace_probs) - 1.0) < 1e-6, "mep.replace_probs must sum to 1")
        _check(
            len(self.levels) > 0 and set(self.levels) <= set(LEVELS),
            f"mep.levels must be a non-empty subset of {LEVELS}",
        )
        _check(self.target in TARGETS, f"mep.target must be one of {TARGETS}")
        _check(self.weight >= 0, "mep.weight must be >= 0")


@dataclass(frozen=True)
class CPPCfg:
    """Correct pair prediction: the chance a sequence's audio is swapped for another's."""

    mismatch_prob: float = 0.5
    weight: float = 1.0

    def __post_init__(self):
        check_types(self)
        _check(0.0 < self.mismatch_prob < 1.0, "cpp.mismatch_prob must be in (0, 1)")
        _check(self.weight >= 0, "cpp.weight must be >= 0")


@dataclass(frozen=True)
class AVCCfg:
    """Audio-visual clip contrast (avpet's addition to MEP + CPP; 0 weight turns it off).

    Each modality is encoded alone, as the evaluation encodes it; the visual feature of every clip
    of the batch is contrasted with the audio features of every clip (NCE, both directions,
    negatives gathered across ranks), its own clip's audio being the positive. ``level`` is where
    the features are taken: the projected ``tokens``, the ``unimodal`` or ``multimodal``
    Transformer outputs, or ``auto`` (unimodal where the fusion has it, else multimodal). The
    defaults are the recipe of the published weights (``configs/grid_small.json``).
    """

    weight: float = 2.0
    level: str = "tokens"
    temperature: float = 0.07

    def __post_init__(self):
        check_types(self)
        _check(self.weight >= 0, "avc.weight must be >= 0")
        levels = ("auto", "tokens", *LEVELS)
        _check(self.level in levels, f"avc.level must be one of {levels}")
        _check(self.temperature > 0, "avc.temperature must be > 0")


@dataclass(frozen=True)
class TaskSection:
    """Which pretraining task (:mod:`avpet.pretrain.tasks`) trains the backbone: ``auto`` takes
    the model's own ``default_task`` (AVBERT: ``avbert``, VATT and MMV: ``contrastive``)."""

    name: str = "auto"

    def __post_init__(self):
        check_types(self)
        _check(
            self.name in ("auto", *TASK_NAMES),
            f"task.name must be one of {('auto', *TASK_NAMES)}, got {self.name!r}",
        )


@dataclass(frozen=True)
class ContrastiveCfg:
    """The contrastive task (VATT's and MMV's objective), ``va_weight · NCE(visual, audio) +
    vt_weight · MIL-NCE(visual, text)`` with temperature τ (MMV: weights 1:1, or 10:1 on
    HowTo100M), on the model's ``joint_level``. The text term needs word ids, which the
    pretraining data (GRID, FSDD) does not have."""

    va_weight: float = 1.0
    vt_weight: float = 1.0
    temperature: float = TEMPERATURE

    def __post_init__(self):
        check_types(self)
        _check(
            self.va_weight >= 0 and self.vt_weight >= 0 and self.va_weight + self.vt_weight > 0,
            "contrastive.va_weight and contrastive.vt_weight must be >= 0 and not both 0, "
            f"got {self}",
        )
        _check(self.temperature > 0, f"contrastive.temperature must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class OptimCfg:
    """AdamW with linear warmup then cosine decay to ``min_lr_ratio * lr`` (per optimizer step)."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    clip_grad_norm: float = 1.0

    def __post_init__(self):
        check_types(self)
        _check(self.lr > 0, "optim.lr must be > 0")
        _check(self.weight_decay >= 0, "optim.weight_decay must be >= 0")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "bad optim.betas")
        check_range(self, "warmup_steps", 0, 10**9, "steps")
        _check(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio must be in [0, 1]")
        _check(self.clip_grad_norm >= 0, "optim.clip_grad_norm must be >= 0 (0 turns it off)")


@dataclass(frozen=True)
class TrainCfg:
    """The loop: batch per rank, length, precision, logging and checkpointing."""

    out_dir: str = "runs/pretrain"
    batch_size: int = 8
    grad_accum: int = 1
    max_steps: int = 1000
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    log_every: int = 10
    ckpt_every: int = 100
    keep_last: int = 3

    def __post_init__(self):
        check_types(self)
        _check(self.out_dir.strip() != "", "train.out_dir must not be empty (name the run folder)")
        _check(self.batch_size >= 2, "train.batch_size must be >= 2 (CPP mismatches within it)")
        check_range(self, "batch_size", 2, 65536, "sequences per rank")
        check_range(self, "grad_accum", 1, 65536, "micro-batches")
        check_range(self, "max_steps", 1, 10**9, "steps")
        _check(self.device in DEVICES, f"train.device must be one of {DEVICES}")
        _check(self.precision in PRECISIONS, f"train.precision must be one of {PRECISIONS}")
        _check(self.log_every >= 1, "train.log_every must be >= 1")
        _check(self.ckpt_every >= 1, "train.ckpt_every must be >= 1")
        _check(self.keep_last >= 1, "train.keep_last must be >= 1")


@dataclass(frozen=True)
class PretrainCfg:
    """The whole recipe: backbone, task, data, objectives, negatives, optimizer and loop.

    The ``avbert`` task uses ``mep``, ``cpp``, ``avc`` and ``negatives``; the ``contrastive`` task
    uses ``contrastive``.
    """

    model: ModelSection = field(default_factory=ModelSection)
    task: TaskSection = field(default_factory=TaskSection)
    data: DataSection = field(default_factory=DataSection)
    mep: MEPCfg = field(default_factory=MEPCfg)
    cpp: CPPCfg = field(default_factory=CPPCfg)
    avc: AVCCfg = field(default_factory=AVCCfg)
    negatives: NegativesCfg = field(default_factory=NegativesCfg)
    contrastive: ContrastiveCfg = field(default_factory=ContrastiveCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    train: TrainCfg = field(default_factory=TrainCfg)

    def __post_init__(self):
        _check(
            self.optim.warmup_steps < self.train.max_steps,
            f"optim.warmup_steps ({self.optim.warmup_steps}) must be below train.max_steps "
            f"({self.train.max_steps}): the learning rate would never reach optim.lr",
        )


SCHEDULE_FIELDS = (
    ("optim", "lr"), ("optim", "warmup_steps"), ("optim", "min_lr_ratio"), ("train", "max_steps"),
)  # fmt: skip


def schedule_changes(saved: dict, cfg: PretrainCfg) -> list[str]:
    """``section.field: saved -> now`` for each learning-rate schedule field that differs between
    a checkpoint's config (``saved``, as :func:`to_dict` wrote it) and ``cfg``."""
    now = to_dict(cfg)
    return [
        f"{section}.{name}: {saved[section][name]} -> {now[section][name]}"
        for section, name in SCHEDULE_FIELDS
        if saved.get(section, {}).get(name, now[section][name]) != now[section][name]
    ]


def load_config(path: str | Path | None, overrides: list[str] = ()) -> PretrainCfg:
    """Read a JSON config (or start from the defaults) and apply overrides.

    ``overrides`` are ``section.field=value`` strings; values are parsed as JSON where they can be
    (numbers, booleans, lists), else taken as text; a comma-separated text fills a tuple field.
    """
    data = (
        to_dict(PretrainCfg())
        if path is None
        else _merge(to_dict(PretrainCfg()), _read(path), path)
    )
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().removeprefix("--").partition(".")
        if not sep or not dot:
            raise ConfigError(f"bad override {item!r}: expected section.field=value")
        _check_known(section, {name}, data)
        data[section][name] = _parse_value(raw, data[section][name], key)
    try:
        return from_dict(PretrainCfg, data)
    except (TypeError, ConfigError) as error:
        raise ConfigError(f"{path or 'defaults'}: {error}") from error


def save_config(cfg: PretrainCfg, path: str | Path) -> None:
    """Write ``cfg`` as JSON (readable back with :func:`load_config`), atomically."""
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")


def _read(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config ({error.strerror})") from error
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise ConfigError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be an object of sections")
    return data


def _merge(defaults: dict, given: dict, path: str | Path) -> dict:
    for section, values in given.items():
        _check_known(section, set(), defaults, f"{path}: ")  # the section first
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: section {section!r} must be an object, got {values!r:.80}")
        _check_known(section, set(values), defaults, f"{path}: ")
        defaults[section].update(values)
    return defaults


def _check_known(section: str, names: set[str], defaults: dict, where: str = "") -> None:
    """Refuse an unknown section or field, naming the valid ones (``where``: a message prefix)."""
    if section not in defaults:
        raise ConfigError(
            f"{where}unknown config section {section!r}; sections: {', '.join(defaults)}"
        )
    unknown = sorted(names - set(defaults[section]))
    if unknown:
        raise ConfigError(
            f"{where}unknown field(s) {', '.join(f'{section}.{n}' for n in unknown)}; fields of "
            f"[{section}]: {', '.join(defaults[section])}"
        )


def _parse_value(raw: str, current: Any, key: str) -> Any:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        value = raw
    if current is None:
        return value
    if isinstance(current, tuple | list) and isinstance(value, str):
        value = [
            _parse_value(part, current[0] if current else "", key) for part in value.split(",")
        ]
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(current, str) and not isinstance(value, str):
        value = raw
    if type(value) is not type(current) and not (
        isinstance(current, tuple | list) and isinstance(value, list)
    ):
        raise ConfigError(f"override {key}: expected {type(current).__name__}, got {raw!r}")
    return value

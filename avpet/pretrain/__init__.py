"""Pretraining: tasks (:mod:`.tasks`: AVBERT's MEP + CPP + AVC, the peers' contrastive NCE),
negative samplers (:mod:`.negatives`, CANS among them), a DDP loop with exact resume.

Entry points: :func:`avpet.pretrain.train.train` (one rank's share of a run), and
``avpet pretrain`` = ``python -m avpet.pretrain`` / ``torchrun -m avpet.pretrain``
(docs/pretraining.md).
"""

from .config import PretrainCfg, load_config
from .negatives import select_negatives
from .objectives import CPPHead, MEPHead, cpp_loss, mep_loss
from .tasks import AVBertPretrainer, ContrastiveTask, create_task

__all__ = [
    "AVBertPretrainer",
    "CPPHead",
    "ContrastiveTask",
    "MEPHead",
    "PretrainCfg",
    "cpp_loss",
    "create_task",
    "load_config",
    "mep_loss",
    "select_negatives",
]

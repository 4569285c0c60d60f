"""AVBERT pretraining: MEP and CPP objectives, CANS negatives, a DDP loop with exact resume; the
same loop trains the peers (VATT, MMV) with their contrastive objective (:mod:`.peers`).

Entry points: :func:`avpet.pretrain.train.train` (one rank's share of a run), and
``python -m avpet.pretrain`` / ``torchrun -m avpet.pretrain`` (docs/pretraining.md).
"""

from .cans import select_negatives
from .config import PretrainCfg, load_config
from .objectives import CPPHead, MEPHead, cpp_loss, mep_loss
from .wrapper import AVBertPretrainer

__all__ = [
    "AVBertPretrainer",
    "CPPHead",
    "MEPHead",
    "PretrainCfg",
    "cpp_loss",
    "load_config",
    "mep_loss",
    "select_negatives",
]

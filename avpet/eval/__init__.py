"""Frozen-feature evaluation on real data: GRID word probes and audio-video retrieval, FSDD
digits (``avpet eval grid|fsdd``)."""

from .probe import ProbeCfg, probe_accuracy
from .retrieval import recall_at_k, retrieval_metrics, similarity

__all__ = ["ProbeCfg", "probe_accuracy", "recall_at_k", "retrieval_metrics", "similarity"]

"""Audio-visual sync: offset, confidence and sync score of a video (``avpet sync``).

:class:`SyncScorer` / :func:`sync_file` score files with a model's joint space
(:mod:`~avpet.sync.reader` embeds them, :mod:`~avpet.sync.scores` reads the offset);
:mod:`~avpet.sync.fix` writes a re-aligned copy; :mod:`~avpet.sync.objective` is the
time-shifted contrastive loss the published sync model was trained with.
"""

from .scorer import DEFAULT_MODEL, SyncResult, SyncScorer, SyncWindow, sync_file

__all__ = ["DEFAULT_MODEL", "SyncResult", "SyncScorer", "SyncWindow", "sync_file"]

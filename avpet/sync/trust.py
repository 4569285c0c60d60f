"""When an offset estimate can be acted on (``avpet sync --fix`` writes only then): its
confidence reaches :data:`MIN_CONFIDENCE` and its windows over time agree (each within one frame
of the whole file's offset). Otherwise the result says why it is unreliable.

:data:`MIN_CONFIDENCE` was chosen by ``experiments/sync_trust.py`` on the sync model's validation
clips (audio moved by -15..15 frames, and swapped for another clip's) and on generated videos
without a face, never on test clips: the largest confidence that still trusts 99 % of the right
estimates (0.990 at 0.19), far above every face-less video (at most 0.064). Audio of another
recording can still pass (docs/sync.md).
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_CONFIDENCE = 0.19


def windows_agree(result) -> bool:
    """Whether every window's offset of ``result`` (a :class:`~avpet.sync.scorer.SyncResult`)
    is within one frame of the whole file's."""
    return _agree(result.offset_frames, [w.offset_frames for w in result.windows])


def doubt(confidence: float, offset: int, window_offsets: Sequence[int]) -> str:
    """Why an estimate is unreliable, or ``""`` when it can be acted on."""
    reasons = []
    if confidence < MIN_CONFIDENCE:
        reasons.append(f"confidence {confidence:.3f} < {MIN_CONFIDENCE}")
    if not _agree(offset, window_offsets):
        reasons.append(f"windows disagree ({' '.join(f'{o:+d}' for o in window_offsets)})")
    return "; ".join(reasons)


def _agree(offset: int, window_offsets: Sequence[int]) -> bool:
    return all(abs(o - offset) <= 1 for o in window_offsets)

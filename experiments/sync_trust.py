"""When is ``avpet sync``'s estimate trustworthy enough for ``--fix`` to write? Chosen on
validation clips and generated videos without a face, never on the test clips.

    python experiments/sync_trust.py ../shared/data/grid_s1 --pretrained local-dir:DIR

Trials: each held-out training clip of the sync model (``avpet eval sync --clips validation``)
with its audio moved by every k in -15..15 frames (the estimate is right within one frame of k or
wrong), the same clips with another clip's audio (no true offset), and videos without a face
(test patterns of libavfilter with tones or noise, written by PyAV, 360x288 like GRID so the
crop applies) read with the default crop and with ``--roi none``: no true offset either. For a
threshold t an estimate is "trusted" when its confidence is >= t and its windows agree (every
window within one frame of the whole file's offset). Prints, per t: the share of right estimates
trusted, the share of trusted estimates that are wrong (on shifted clips), and how many swapped
and face-less trials are trusted. avpet uses (``avpet.sync.trust``) the largest t that still
trusts >= 99 % of the right estimates, provided it trusts no face-less trial: a video without a
speaker is refused, a real offset is fixed. Swapped audio (another sentence of the same speaker)
can peak as high as a real offset, so trusting none of it would refuse a third of the right
estimates; the script prints that threshold too, and docs/sync.md says what it costs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from avpet.data.patterns import write_pattern
from avpet.eval.sync import moved, sync_clips
from avpet.sync.scorer import SyncScorer
from avpet.sync.trust import windows_agree

PATTERNS = ("testsrc2", "testsrc", "smptebars", "mandelbrot", "life", "cellauto", "rgbtestsrc")
SOUNDS = ("sine=frequency={f}:beep_factor=4", "anoisesrc=color=pink:amplitude=0.3")


def no_face_videos(folder: Path, sounds: int = len(SOUNDS), seconds: int = 4) -> list[Path]:
    """One video per pattern and sound: a test pattern at 25 fps, 360x288, with a tone or
    noise at 16 kHz (H.264 + AAC)."""
    return [
        write_pattern(
            folder / f"{pattern}_{j}.mp4",
            seconds,
            pattern,
            sound.format(f=220 + 110 * i),
            size=(360, 288),
        )
        for i, pattern in enumerate(PATTERNS)
        for j, sound in enumerate(SOUNDS[:sounds])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--pretrained", default=True)
    parser.add_argument("--window", type=float, default=2.0, help="avpet sync's --window")
    parser.add_argument("--limit", type=int, help="N validation clips (a fixed pick)")
    parser.add_argument(
        "--sounds", type=int, default=len(SOUNDS), help="sounds per face-less pattern (2)"
    )
    args = parser.parse_args()
    k = 15
    options = argparse.Namespace(
        data=args.data, split=0.8, clips="validation", limit=args.limit, search=k
    )
    folder = tempfile.TemporaryDirectory()
    videos = no_face_videos(Path(folder.name), args.sounds)  # first: a mistake shows at once
    scorer = SyncScorer(pretrained=args.pretrained, search=2 * k, window=args.window)
    clips = sync_clips(options)
    signals = [scorer.embed(clip.video) for clip in clips]
    scorer.search = k
    shifted, swapped, no_face = [], [], []  # (confidence, windows agree[, right])
    for i, signal in enumerate(signals):
        for shift in range(-k, k + 1):
            result = scorer.result(moved(signal, signal.audio, k, shift))
            right = abs(result.offset_frames - shift) <= 1
            shifted.append((result.confidence, windows_agree(result), right))
        other = signals[(i + 1) % len(signals)].audio
        result = scorer.result(moved(signal, other, k, 0))
        swapped.append((result.confidence, windows_agree(result)))
    for roi in ("auto", "none"):
        plain = SyncScorer(pretrained=args.pretrained, roi=roi, search=k, window=args.window)
        for video in videos:
            result = plain(video)
            no_face.append((result.confidence, windows_agree(result)))
    folder.cleanup()
    print(
        f"{len(clips)} validation clips x {2 * k + 1} shifts, {len(swapped)} swapped, "
        f"{len(no_face)} face-less trials ({len(videos)} videos, default crop and --roi none)"
    )
    top_swapped, top_no_face = max(c for c, _ in swapped), max(c for c, _ in no_face)
    print(f"max confidence: swapped {top_swapped:.3f}, face-less {top_no_face:.3f}")
    print("threshold  right trusted  wrong among trusted  swapped trusted  face-less trusted")
    chosen = strict = None
    for step in range(0, 41):
        t = step / 100
        trusted = [right for c, agree, right in shifted if c >= t and agree]
        right_total = sum(right for *_, right in shifted)
        wrong = (len(trusted) - sum(trusted)) / max(len(trusted), 1)
        bad_swapped = sum(c >= t and agree for c, agree in swapped)
        bad_no_face = sum(c >= t and agree for c, agree in no_face)
        print(
            f"{t:9.2f}  {sum(trusted) / right_total:13.3f}  {wrong:19.3f}  "
            f"{bad_swapped:15d}  {bad_no_face:17d}"
        )
        if sum(trusted) / right_total >= 0.99 and wrong <= 0.01 and bad_no_face == 0:
            chosen = t
        if strict is None and wrong <= 0.01 and bad_swapped == 0 and bad_no_face == 0:
            strict = t
    print(f"largest threshold trusting >= 99 % of right estimates and no face-less one: {chosen}")
    print(f"(smallest threshold trusting no swapped or face-less trial: {strict})")


if __name__ == "__main__":
    main()

"""How ``avpet sync`` reads "in sync" from a score curve: four candidates on the validation clips.

    python experiments/sync_score_choice.py ../shared/data/grid_s1 --pretrained local-dir:DIR

For each held-out training clip (``avpet eval sync --clips validation``) the curve of the clip as
it is is compared with the curves of the clip with another clip's audio ("swapped") and with its
own audio shifted by 3 or more frames, under four readings of the curve at offset 0: its value
(``raw``, what avpet uses), minus the median (``relative``), standardised (``zscore``) and minus
the best other offset beyond one frame (``margin``). Prints the AUROC of each against both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from avpet.eval.sync import auroc, moved, sync_clips
from avpet.sync.scorer import SyncScorer
from avpet.sync.scores import clip_scores

READINGS = {
    "raw": lambda c, k: float(c[k]),
    "relative": lambda c, k: float(c[k] - c.median()),
    "zscore": lambda c, k: float((c[k] - c.mean()) / (c.std() + 1e-8)),
    "margin": lambda c, k: float(c[k] - torch.cat([c[: k - 1], c[k + 2 :]]).max()),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--pretrained", default=True)
    args = parser.parse_args()
    k = 15
    options = argparse.Namespace(
        data=args.data, split=0.8, clips="validation", limit=None, search=k
    )
    scorer = SyncScorer(pretrained=args.pretrained, search=2 * k)
    signals = [scorer.embed(clip.video) for clip in sync_clips(options)]
    for name, read in READINGS.items():
        genuine, shifted, swapped = [], [], []
        for i, signal in enumerate(signals):
            for shift in range(-k, k + 1):
                curve = clip_scores(moved(signal, signal.audio, k, shift)).mean(0)
                if shift == 0:
                    genuine.append(read(curve, k))
                elif abs(shift) >= 3:
                    shifted.append(read(curve, k))
            other = signals[(i + 1) % len(signals)].audio
            swapped.append(read(clip_scores(moved(signal, other, k, 0)).mean(0), k))
        print(
            f"{name:9s} AUROC swapped {auroc(genuine, swapped):.4f}, "
            f"shift >= 3 {auroc(genuine, shifted):.4f} ({len(signals)} validation clips)"
        )


if __name__ == "__main__":
    main()

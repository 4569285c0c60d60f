"""Features of a folder of videos for your own code: avpet → pandas → a scikit-learn probe.

    python examples/extract_features.py ROOT                # ROOT/CLASS/VIDEO files
    python examples/extract_features.py ROOT --model avpet_small_mid_lowrank.grid_s1 \
        --pretrained local-dir:hub/avpet_small_mid_lowrank.grid_s1 --level visual_cnn

``avpet.extract_features`` covers every video with consecutive clips and yields one record per
video (features per clip, clip start/end seconds, has_visual/has_audio); the clips become rows of
a pandas DataFrame, each video the mean of its clips, and a logistic regression is scored by
stratified cross-validation on the class folders. Prints the table's shape and the accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import avpet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="ROOT/CLASS/VIDEO files")
    parser.add_argument("--model", default="avpet_small_mid_lowrank", help="model name")
    parser.add_argument("--pretrained", default=False, help="weights: hf-hub:, local-dir:, file")
    parser.add_argument("--level", default="visual_unimodal", help="a per-clip feature level")
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for video in avpet.extract_features(args.root, args.model, pretrained=args.pretrained):
        label = Path(video.path).relative_to(args.root.absolute()).parts[0]
        features = video.features[args.level].numpy()  # [clips, C]
        for k in range(video.num_clips):
            rows.append(
                {
                    "video": video.path,
                    "label": label,
                    "start": float(video.start[k]),
                    "end": float(video.end[k]),
                    **{f"f{i}": v for i, v in enumerate(features[k])},
                }
            )
    clips = pd.DataFrame(rows)
    print(f"{len(clips)} clips of {clips.video.nunique()} videos, {clips.shape[1] - 4} features")
    videos = clips.drop(columns=["start", "end"]).groupby(["video", "label"]).mean().reset_index()
    x, y = videos.filter(like="f").to_numpy(), videos.label.to_numpy()
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    scores = cross_val_score(probe, x, y, cv=folds)
    chance = videos.label.value_counts(normalize=True).max()
    print(
        json.dumps(
            {
                "videos": len(videos),
                "classes": sorted(set(y)),
                "level": args.level,
                "accuracy": float(np.mean(scores)),
                "chance": float(chance),
            }
        )
    )


if __name__ == "__main__":
    main()

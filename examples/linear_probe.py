"""A linear probe on your own labelled folder: frozen features → logistic regression.

    python examples/linear_probe.py ROOT                      # ROOT/CLASS/VIDEO files
    python examples/linear_probe.py ROOT --model avpet_mid_lowrank --pretrained --folds 5

Each video becomes one feature vector (``--level``: the pooled ``[BOS_v ; BOS_a]`` summary, or any
level of ``forward_features`` averaged over its sequence axis); scikit-learn's logistic regression
is scored by stratified k-fold cross-validation. Prints the accuracy per fold and its mean.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from labelled_folder import LabelledVideos, find_labelled_videos
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader

import avpet
from avpet.data import create_transform, resolve_data_config


def pooled_features(model: torch.nn.Module, loader: DataLoader, level: str) -> np.ndarray:
    """One row per video: ``[N, D']`` features of ``level`` (``"pooled"`` or a feature key)."""
    rows = []
    with torch.inference_mode():
        for batch in loader:
            features = model.forward_features(visual=batch["visual"], audio=batch["audio"])
            if level == "pooled":
                value = model.forward_head(features, pre_logits=True)  # [B, 2D]
            else:
                value = features[level]
                value = value.mean(dim=1) if value.ndim == 3 else value  # [B, S, D] -> [B, D]
            rows.append(value.float().numpy())
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="folder with one sub-folder of videos per class")
    parser.add_argument("--model", default="avpet_small_mid_lowrank", help="model name")
    parser.add_argument(
        "--pretrained", default=None, help="weights: hf-hub:ORG/REPO, local-dir:DIR or a file"
    )
    parser.add_argument(
        "--level",
        default="pooled",
        help="pooled, or a forward_features key (e.g. audio_multimodal)",
    )
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds")
    parser.add_argument("--batch-size", type=int, default=4, help="videos per forward")
    parser.add_argument("--workers", type=int, default=0, help="decoding worker processes")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args()

    items, classes = find_labelled_videos(args.root)
    torch.manual_seed(0)
    model = avpet.create_model(args.model, pretrained=args.pretrained or False).eval()
    transform = create_transform(resolve_data_config(model), is_training=False)
    loader = DataLoader(
        LabelledVideos(items, transform), batch_size=args.batch_size, num_workers=args.workers
    )
    features = pooled_features(model, loader, args.level)
    labels = np.array([label for _, label in items])
    print(f"{len(items)} videos, {len(classes)} classes {classes}, features {features.shape}")

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    scores = cross_val_score(probe, features, labels, cv=folds)
    result = {
        "classes": classes,
        "n_videos": len(items),
        "level": args.level,
        "fold_accuracy": [round(float(s), 4) for s in scores],
        "accuracy": float(scores.mean()),
        "chance": float(np.bincount(labels).max() / len(labels)),
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()

"""How often ``avpet search`` finds a GRID clip's own video from its audio, against the GRID
evaluation's audio→video R@1 on the same clips (docs/search.md).

    python experiments/search_vs_eval.py ../shared/data/grid_s1 --part train --gallery 20 100
    python experiments/search_vs_eval.py ../shared/data/grid_s1 --part heldout --gallery 20 150

``--part train``: the first ``--clips`` training clips in :func:`~avpet.data.grid.subset` order
(pretraining saw them); ``heldout``: the test clips after the first 20 (pretraining never saw
them; the first 20 are the ones ``tests/test_search.py`` checks). The clips are cut into galleries
of ``--gallery`` videos. Per gallery: the evaluation's a2v R@1 (four word-centred clips per
sentence) and, for each clip stride of the index, the fraction of clips whose audio (the whole
file) finds its own video at top 1 among the gallery's videos (:func:`avpet.search.spans.find_spans`
on an index of the gallery, built as ``avpet index --clip-stride`` does).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from avpet.data.grid import find_clips, split_clips, subset
from avpet.data.stream import Coverage
from avpet.eval import grid
from avpet.eval.retrieval import retrieval_metrics
from avpet.factory import create_model
from avpet.features import extract_features
from avpet.search.index import ClipIndex
from avpet.search.spans import find_spans

WEIGHTS = Path(__file__).parents[1] / "hub" / "avpet_small_mid_lowrank.grid_s1"
FINEST = 0.16  # seconds; the coarser strides take every 2nd, 4th row of this one
STRIDES = (0.64, 0.32, 0.16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--part", choices=("train", "heldout"), default="train")
    parser.add_argument("--clips", type=int, default=200, help="clips of the part (at most)")
    parser.add_argument("--gallery", type=int, nargs="+", default=[20], help="videos per gallery")
    args = parser.parse_args()
    train, test = split_clips(find_clips(args.data / "video", args.data / "align"), 0.8)
    clips = subset(train, args.clips) if args.part == "train" else test[20 : 20 + args.clips]
    model = create_model("avpet_small_mid_lowrank.grid_s1", pretrained=f"local-dir:{WEIGHTS}")
    model.eval()
    torch.manual_seed(0)
    feats = grid.extract(model, clips, grid.create_eval_transform(model))
    level = model.joint_level
    rows = {
        Path(r.path).name: r
        for r in extract_features([c.video for c in clips], model, coverage=Coverage(FINEST))
    }
    print(f"{args.part}: {len(clips)} clips, level {level}, index strides {STRIDES} s")
    for size in args.gallery:
        galleries = [clips[g : g + size] for g in range(0, len(clips) - size + 1, size)]
        table = {"evaluation a2v R@1": []} | {f"search top-1, stride {s}": [] for s in STRIDES}
        for gallery in galleries:
            ids = [clips.index(c) for c in gallery]
            pair = {m: {level: feats[m][level][ids]} for m in feats}
            table["evaluation a2v R@1"].append(
                retrieval_metrics(*grid.paired_embeddings(pair, level))["a2v_r1"]
            )
            for stride in STRIDES:
                records = [rows[c.video.name] for c in gallery]
                table[f"search top-1, stride {stride}"].append(top1(records, level, stride))
        print(f"{len(galleries)} galleries of {size} videos:")
        for name, values in table.items():
            print(f"  {name:26s} mean {np.mean(values):.3f}  per gallery {np.round(values, 2)}")


def top1(records: list, level: str, stride: float) -> float:
    """Fraction of ``records`` whose audio finds its own video at top 1 in an index of them all,
    clips ``stride`` seconds apart."""
    step = round(stride / FINEST)
    index = ClipIndex("avpet_small_mid_lowrank", level, 256, stride=stride)
    for r in records:
        clips = {m: r.features[f"{m}_{level}"][::step].numpy() for m in ("visual", "audio")}
        index.add(r.path, r.start[::step].numpy(), r.end[::step].numpy(), clips)
    found = [find_spans(index, index.embeddings["audio"][index.video_ids == v], "audio", 1)[0]
             for v in range(len(records))]  # fmt: skip
    return float(np.mean([hit.video == r.path for hit, r in zip(found, records, strict=True)]))


if __name__ == "__main__":
    main()

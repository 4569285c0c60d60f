"""Write the GRID train/test split of ``avpet eval grid --split`` as two CSV manifests.

    python experiments/grid_split.py ../shared/data/grid_s1 --split 0.8 --out runs/grid_s1

writes ``runs/grid_s1/train.csv`` and ``test.csv`` (a ``path`` column, absolute paths), the same
hash split the evaluation uses, so pretraining can be restricted to the training clips.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from avpet.eval.grid import find_clips, split_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="GRID speaker folder (video/, align/)")
    parser.add_argument("--split", type=float, default=0.8, help="training fraction")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.csv, test.csv")
    args = parser.parse_args()
    train, test = split_clips(find_clips(args.data / "video", args.data / "align"), args.split)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, clips in (("train", train), ("test", test)):
        with open(args.out / f"{name}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path"])
            writer.writerows([[str(Path(c.video).resolve())] for c in clips])
        print(f"{args.out / name}.csv: {len(clips)} clips")


if __name__ == "__main__":
    main()

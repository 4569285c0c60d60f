"""Publish trained weights as a hub repo folder (``hub/<name>.<tag>/``) with measured metrics.

    python scripts/publish.py --model avpet_small_mid_lowrank --tag grid_s1 \\
        --weights local-dir:runs/grid_small/final --hub-id avpet/avpet_small_mid_lowrank.grid_s1 \\
        --metrics runs/grid_small/eval_grid.json runs/grid_small/eval_fsdd.json \\
        --license cc-by-4.0 --training-data "..." --description "..."

Each ``--metrics`` file is the saved stdout of ``avpet eval ... --json``: its last line is the JSON
object of metrics, whose numeric entries fill the card (prefixed by the benchmark name).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import avpet
from avpet.hub import save_pretrained

NOT_METRICS = {"seconds", "seed"}


def read_metrics(path: Path) -> tuple[dict[str, float], str]:
    """Numeric metrics of one saved ``avpet eval --json`` output and the command that printed it."""
    result = json.loads(path.read_text().strip().splitlines()[-1])
    task = result["task"]
    metrics = {
        f"{task}/{k}": float(v)
        for k, v in result.items()
        if isinstance(v, float) and k not in NOT_METRICS
    }
    source = (
        f"avpet eval {task} --model {result['model']} --pretrained {result['pretrained']} "
        f"--seed {result['seed']} ({result['machine']})"
    )
    return metrics, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--weights", required=True, help="source of the trained weights")
    parser.add_argument("--hub-id", required=True)
    parser.add_argument("--metrics", type=Path, nargs="*", default=[])
    parser.add_argument("--license", required=True)
    parser.add_argument("--training-data", required=True)
    parser.add_argument("--description", required=True)
    parser.add_argument("--out", type=Path, default=Path("hub"))
    args = parser.parse_args()

    model = avpet.create_model(args.model, pretrained=args.weights)
    model.pretrained_cfg = replace(
        model.pretrained_cfg, tag=args.tag, license=args.license, description=args.description
    )
    metrics, sources = {}, []
    for path in args.metrics:
        found, source = read_metrics(path)
        metrics |= found
        sources.append(source)
    folder = save_pretrained(
        model,
        args.out / f"{args.model}.{args.tag}",
        metrics=metrics,
        metrics_source="; ".join(sources) or None,
        training_data=args.training_data,
        hf_hub_id=args.hub_id,
    )
    print(f"published {folder}")


if __name__ == "__main__":
    main()

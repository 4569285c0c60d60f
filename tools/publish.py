"""Publish trained weights as a hub repo folder (``hub/<name>.<tag>/``) with measured metrics.

    python tools/publish.py avpet_small_mid_lowrank.grid_s1 \\
        --weights local-dir:runs/grid_small/final \\
        --metrics runs/grid_small/eval_grid.json runs/grid_small/eval_fsdd.json \\
        --training-data "..."

The tag must be registered first (its pretrained config: input spec, hub id, licence,
description); the folder gets exactly that config, so ``create_model(NAME.TAG, pretrained=True)``
finds the weights where the registry says.

Each ``--metrics`` file is the saved stdout of ``avpet eval ... --json``: its last line is the JSON
object of metrics, whose numeric entries fill the card (prefixed by the benchmark name).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import avpet
from avpet.hub import save_pretrained
from avpet.hub.evals import read_eval_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="registered NAME.TAG to publish")
    parser.add_argument("--weights", required=True, help="source of the trained weights")
    parser.add_argument("--metrics", type=Path, nargs="*", default=[])
    parser.add_argument("--training-data", required=True)
    parser.add_argument("--out", type=Path, default=Path("hub"))
    args = parser.parse_args()

    registered = avpet.get_pretrained_cfg(args.name)
    model = avpet.create_model(args.name.partition(".")[0], pretrained=args.weights)
    model.pretrained_cfg = registered
    metrics, sources = {}, []
    for path in args.metrics:
        found, source, _ = read_eval_json(path)
        metrics |= found
        sources.append(source)
    folder = save_pretrained(
        model,
        args.out / args.name,
        metrics=metrics,
        metrics_source="; ".join(sources) or None,
        training_data=args.training_data,
        hf_hub_id=registered.hf_hub_id,
    )
    print(f"published {folder}")


if __name__ == "__main__":
    main()

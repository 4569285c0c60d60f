"""Print a Markdown table of saved ``avpet eval ... --json`` outputs (one row per file).

    python experiments/results_table.py runs/eval/*.json

Each file is the stdout of one ``avpet eval`` run; its last line is the JSON object of metrics.
Rows with the same model and pretrained source (up to the seed in a ``_s<N>`` run folder) but
different seeds are also summarised as mean ± std.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

COLUMNS = {
    "grid": [
        "visual_color_acc",
        "visual_letter_acc",
        "visual_digit_acc",
        "audio_color_acc",
        "audio_letter_acc",
        "audio_digit_acc",
        "a2v_r1",
        "a2v_r5",
        "v2a_r1",
    ],
    "fsdd": ["digit_acc_mean"],
}


def label(result: dict) -> str:
    """The row's model, weights and feature level; a run folder named ``..._s<N>`` (one per seed,
    as experiments/grid_pretrain.sh writes) is shown as ``_s<seed>``, so seeds group together."""
    pretrained = result["pretrained"]
    level = f" at `{result['level']}`" if "level" in result else ""
    if pretrained in (False, "False", None):
        return f"{result['model']} (random init){level}"
    return f"{result['model']} (`{re.sub(r'_s[0-9]+/', '_s<seed>/', pretrained)}`){level}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()
    results = [json.loads(p.read_text().strip().splitlines()[-1]) for p in args.files]
    for task, columns in COLUMNS.items():
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        print(f"\n### {task} (machine: {rows[0]['machine']})\n")
        print("| model | seed | " + " | ".join(columns) + " |")
        print("|---|---|" + "---|" * len(columns))
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            groups[label(r)].append(r)
            cells = " | ".join(f"{r[c]:.3f}" if c in r else "" for c in columns)
            print(f"| {label(r)} | {r['seed']} | {cells} |")
        for name, group in groups.items():
            if len(group) < 2:
                continue
            cells = " | ".join(
                f"{statistics.mean(g[c] for g in group):.3f} ± "
                f"{statistics.stdev(g[c] for g in group):.3f}"
                if all(c in g for g in group)
                else ""
                for c in columns
            )
            print(f"| {name} | mean ± std of {len(group)} | {cells} |")


if __name__ == "__main__":
    main()

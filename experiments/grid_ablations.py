"""The paper's ablations on GRID s1 at one budget: fusion, sharing and negative samplers.

    python experiments/grid_ablations.py --steps 300 --seeds 0 1 2 [--only mid_lowrank_similar]

Every variant is ``configs/grid_small.json`` with one change (the model's fusion or sharing, or
``negatives.strategy``), pretrained for ``--steps`` steps per seed from the same clip cache,
then evaluated by ``avpet eval grid --level select`` on the held-out clips. Each run writes
``OUT/<variant>/s<seed>/eval_grid.json`` (OUT defaults to ``runs/ablations_STEPS``); runs
already evaluated from the same config file and step count are skipped, so an interrupted sweep
continues where it stopped (each seed runs over all variants before the next), and a changed
recipe is run again. Prints Markdown tables of mean ± std over seeds per variant and metric, at
the selected level and at the Transformer's output, and with ``--write docs/results.md`` puts
them between the ablation markers there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<!-- grid_ablations:start -->", "<!-- grid_ablations:end -->")
PROBE_METRICS = ("visual_letter_acc", "visual_digit_acc", "audio_digit_acc")
METRICS = (*PROBE_METRICS, "a2v_r1")

# variant → (backbone, negatives.strategy, mep.levels); the first is the recipe itself. MEP
# predicts from the levels the fusion has: no unimodal Transformers under early fusion, no
# multimodal one under late fusion.
BOTH = "unimodal,multimodal"
VARIANTS = {
    "mid_lowrank_similar": ("avpet_small_mid_lowrank", "similar", BOTH),
    "early_lowrank_similar": ("avpet_small_early_lowrank", "similar", "multimodal"),
    "late_lowrank_similar": ("avpet_small_late_lowrank", "similar", "unimodal"),
    "mid_none_similar": ("avpet_small_mid_none", "similar", BOTH),
    "mid_all_similar": ("avpet_small_mid_all", "similar", BOTH),
    "mid_lowrank_minibatch": ("avpet_small_mid_lowrank", "minibatch", BOTH),
    "mid_lowrank_sequence": ("avpet_small_mid_lowrank", "sequence", BOTH),
    "mid_lowrank_random": ("avpet_small_mid_lowrank", "random", BOTH),
}
GROUPS = {
    "fusion (lowrank, CANS similar)": [
        "early_lowrank_similar",
        "mid_lowrank_similar",
        "late_lowrank_similar",
    ],
    "sharing (mid, CANS similar)": ["mid_none_similar", "mid_all_similar", "mid_lowrank_similar"],
    "negatives (mid, lowrank)": [
        "mid_lowrank_similar",
        "mid_lowrank_minibatch",
        "mid_lowrank_sequence",
        "mid_lowrank_random",
    ],
}


def recipe_hash(args: argparse.Namespace) -> str:
    """What a stored result must have been made from: the config file's bytes and the steps."""
    return hashlib.sha1(args.config.read_bytes() + f"steps={args.steps}".encode()).hexdigest()


def run(variant: str, seed: int, args: argparse.Namespace) -> dict:
    """Pretrain and evaluate one variant and seed (or read its earlier result)."""
    model, strategy, levels = VARIANTS[variant]
    out = args.out / variant / f"s{seed}"
    result_path = out / "eval_grid.json"
    recipe = recipe_hash(args)
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    if result.get("recipe") != recipe:
        start = time.monotonic()
        overrides = [
            f"model.name={model}",
            f"negatives.strategy={strategy}",
            f"mep.levels={levels}",
            f"train.max_steps={args.steps}",
            f"train.seed={seed}",
            f"train.out_dir={out}",
            f"train.ckpt_every={args.steps}",
            f"optim.warmup_steps={max(args.steps // 10, 1)}",
        ]
        python = sys.executable
        subprocess.run([python, "-m", "avpet.pretrain", str(args.config), *overrides], check=True)
        minutes = (time.monotonic() - start) / 60
        evaluation = subprocess.run(
            [
                python, "-m", "avpet", "eval", "grid", "--model", model,
                "--pretrained", f"local-dir:{out / 'final'}", "--data", str(args.data),
                "--seed", str(seed), "--cache", str(args.eval_cache), "--level", "select",
                "--json",
            ],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        result = json.loads(evaluation.stdout.strip().splitlines()[-1])
        result.update(variant=variant, steps=args.steps, pretrain_minutes=minutes, recipe=recipe)
        partial = result_path.with_suffix(".partial")  # a cut-short write is never read back
        partial.write_text(json.dumps(result) + "\n")
        partial.replace(result_path)
    print(json.dumps({k: result.get(k) for k in ("variant", "seed", *METRICS)}), flush=True)
    return result


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def transformer_output(result: dict) -> dict[str, float]:
    """The probe accuracies of ``result`` read at its variant's last Transformer level (the
    multimodal one, or the unimodal one under late fusion) instead of the selected level."""
    return result["levels"][VARIANTS[result["variant"]][2].split(",")[-1]]


def group_tables(
    results: dict[str, list[dict]], metrics: tuple[str, ...], read: Callable[[dict], dict]
) -> list[str]:
    """Markdown lines: one table per ablation group, mean ± std over seeds of ``read(result)``."""
    lines = []
    for group, variants in GROUPS.items():
        lines += [
            f"| {group} | seeds | {' | '.join(metrics)} |",
            "|---|---" + "|---" * len(metrics) + "|",
        ]
        for variant in variants:
            rows = [read(r) for r in results.get(variant, [])]
            if rows:
                cells = " | ".join(mean_std([r[m] for r in rows]) for m in metrics)
                lines.append(f"| {variant} | {len(rows)} | {cells} |")
        lines.append("")
    return lines


def chosen_levels(results: dict[str, list[dict]]) -> str:
    """How often ``--level select`` chose each level, per metric, over every run."""
    runs = [r for rows in results.values() for r in rows]
    per_metric = []
    for metric in METRICS:
        key = "retrieval" if metric == "a2v_r1" else metric
        counts = Counter(r["selected"][key] for r in runs).most_common()
        per_metric.append(f"{metric} " + ", ".join(f"{level} {n}" for level, n in counts))
    return f"Levels chosen over the {len(runs)} runs: " + "; ".join(per_metric) + "."


def table(results: dict[str, list[dict]]) -> str:
    """Markdown: the headline metrics (``--level select``) per group, then the probes read at
    the Transformer's output, and the budget and machine."""
    first = next(iter(results.values()))[0]
    minutes = statistics.mean(r["pretrain_minutes"] for rows in results.values() for r in rows)
    lines = [
        "**Headline** (`--level select`: the level chosen on the training split):",
        "",
        *group_tables(results, METRICS, lambda r: r),
        chosen_levels(results),
        "",
        "**At the Transformer's output** (multimodal level; unimodal under late fusion):",
        "",
        *group_tables(results, PROBE_METRICS, transformer_output),
        f"{first['steps']} pretraining steps per run (mean {minutes:.1f} min of pretraining plus "
        f"decoding-free evaluation); machine: {first['machine']}.",
    ]
    return "\n".join(lines)


def write_block(path: Path, block: str) -> None:
    """Replace the text between the ablation markers of ``path`` with ``block``."""
    text = path.read_text()
    start, end = (text.index(m) for m in MARKERS)
    path.write_text(text[: start + len(MARKERS[0])] + "\n\n" + block + "\n\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "grid_small.json")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "grid_s1")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="run these variants")
    parser.add_argument("--out", type=Path, help="run folder (default runs/ablations_STEPS)")
    parser.add_argument("--eval-cache", type=Path, default=ROOT / "runs" / "eval_cache")
    parser.add_argument("--write", type=Path, help="put the table between the markers here")
    args = parser.parse_args()
    args.out = args.out or ROOT / "runs" / f"ablations_{args.steps}"
    results: dict[str, list[dict]] = {}
    for seed in args.seeds:  # seed-major: a sweep cut short still covers every variant
        for variant in args.only or VARIANTS:
            results.setdefault(variant, []).append(run(variant, seed, args))
    block = table(results)
    print("\n" + block)
    if args.write:
        write_block(args.write, block)


if __name__ == "__main__":
    main()

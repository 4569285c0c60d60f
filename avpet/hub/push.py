"""``avpet push RUN_OR_DIR --repo ORG/NAME``: publish a pretraining run (its ``final/``) or a hub
repo folder to the Hub at ``HF_ENDPOINT``, with licence, description, datasets, base model and the
metrics ``avpet eval --json`` printed for it in the card.

Metrics are the files given with ``--metrics`` plus, for a run, every ``RUN/eval_*.json`` whose
``pretrained`` names the run's weights (what ``scripts/grid_eval.sh`` writes).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..errors import CheckpointError, ConfigError
from ..factory import create_model
from .evals import read_eval_json
from .repo import push_to_hub, read_repo_config
from .sources import CONFIG_NAME


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``avpet push``."""
    parser.add_argument(
        "path",
        type=Path,
        metavar="RUN_OR_DIR",
        help="a pretraining run folder or a hub repo folder",
    )
    parser.add_argument("--repo", required=True, metavar="ORG/NAME", help="Hub repository id")
    parser.add_argument(
        "--license",
        help="licence id of the weights (cc-by-4.0, apache-2.0, other...); required unless the "
        "folder names one (a run's export does not: its data decide)",
    )
    parser.add_argument("--description", help="what the weights are (default: the folder's)")
    parser.add_argument(
        "--datasets", nargs="+", default=[], metavar="DATASET", help="datasets trained on"
    )
    parser.add_argument(
        "--base-model", metavar="ORG/NAME", help="Hub repo the weights were continued from"
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        type=Path,
        default=[],
        metavar="JSON",
        help="avpet eval --json outputs",
    )
    parser.add_argument("--revision", help="branch to commit to (default: main)")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--message", help="commit message")


def run(args: argparse.Namespace) -> int:
    """``avpet push``: upload the folder's weights with a fresh card; prints the commit."""
    run_dir, repo_dir = locate(args.path)
    config = read_repo_config(repo_dir / CONFIG_NAME)
    model = create_model(f"local-dir:{repo_dir}", pretrained=True)
    cfg = model.pretrained_cfg
    license_id = args.license or cfg.license
    if not license_id:
        raise ConfigError(
            f"{repo_dir}: the weights name no licence; give one with --license "
            "(the training data's licence usually decides it)"
        )
    model.pretrained_cfg = replace(
        cfg, license=license_id, description=args.description or cfg.description
    )
    metrics, sources = {}, []
    for path in [*args.metrics, *run_evaluations(run_dir, repo_dir)]:
        found, source, _ = read_eval_json(path)
        metrics |= found
        sources.append(source)
    commit = push_to_hub(
        model,
        args.repo,
        revision=args.revision,
        private=args.private,
        commit_message=args.message,
        metrics=metrics or None,
        metrics_source="; ".join(sources) or None,
        datasets=args.datasets,
        base_model=args.base_model or config.get("base_model"),
    )
    print(f"pushed {repo_dir} to hf-hub:{args.repo}@{commit} ({len(metrics)} metrics)")
    return 0


def locate(path: Path) -> tuple[Path | None, Path]:
    """``(run folder or None, hub repo folder)`` of a run (``RUN/final``) or a repo folder."""
    if (path / "final" / CONFIG_NAME).is_file():
        return path, path / "final"
    if (path / CONFIG_NAME).is_file():
        return (path.parent if path.name == "final" else None), path
    raise CheckpointError(path, "neither a pretraining run (no final/config.json) nor a hub repo")


def run_evaluations(run_dir: Path | None, repo_dir: Path) -> list[Path]:
    """``RUN/eval_*.json`` files whose ``pretrained`` is ``local-dir:`` this repo folder."""
    if run_dir is None:
        return []
    found = []
    for path in sorted(run_dir.glob("eval_*.json")):
        _, _, result = read_eval_json(path)
        source = str(result.get("pretrained"))
        if source.startswith("local-dir:") and _same(source[len("local-dir:") :], repo_dir):
            found.append(path)
    return found


def _same(location: str, folder: Path) -> bool:
    return Path(location).expanduser().resolve() == folder.resolve()

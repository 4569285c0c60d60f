"""MkDocs hook: fill ``<!-- model-zoo -->`` with a table generated from the avpet registry."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import avpet

MARKER = "<!-- model-zoo -->"
HUB = Path(__file__).resolve().parents[1] / "hub"  # the repository's published repos


def _published_metrics(name_tag: str) -> str:
    """Metrics recorded in the published repo's config.json, if any."""
    config = HUB / name_tag / "config.json"
    if not config.is_file():
        return ""
    metrics = json.loads(config.read_text()).get("metrics") or {}
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(metrics.items()))


def model_zoo_table() -> str:
    rows = ["| model | parameters | Transformer | pretrained tags |", "|---|---|---|---|"]
    for name in avpet.list_models():
        with torch.device("meta"):
            counts = avpet.create_model(name).parameter_counts()
        tags = avpet.list_models(name + ".*", pretrained=True)
        tag_text = "<br>".join(
            f"`{t}`" + (f" ({m})" if (m := _published_metrics(t)) else "") for t in tags
        )
        transformer = f"{counts['transformer']:,}" if "transformer" in counts else ""
        rows.append(f"| `{name}` | {counts['total']:,} | {transformer} | {tag_text} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_) -> str:
    return markdown.replace(MARKER, model_zoo_table()) if MARKER in markdown else markdown

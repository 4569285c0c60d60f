"""MkDocs hooks: fill ``<!-- model-zoo -->`` with a table generated from the avpet registry, and
``<!-- include MODEL_CARD.md -->`` with that top-level file (links into docs/ made site-relative),
so the site shows the one model card the repository keeps."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import avpet

MARKER = "<!-- model-zoo -->"
ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "hub"  # the repository's published repos
MODEL_CARD = "<!-- include MODEL_CARD.md -->"


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


def model_card() -> str:
    """MODEL_CARD.md as a page of the site: its ``docs/x.md`` links become ``x.md``."""
    return (ROOT / "MODEL_CARD.md").read_text().replace("](docs/", "](")


def on_page_markdown(markdown: str, **_) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, model_zoo_table())
    if MODEL_CARD in markdown:
        markdown = markdown.replace(MODEL_CARD, model_card())
    return markdown

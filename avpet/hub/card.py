"""Model cards: the ``README.md`` of a published repo, YAML metadata that huggingface_hub's
``ModelCard`` parses, then architecture, parameter counts, data, licence, use, limits, results.

Results appear only as measured by ``avpet eval`` (passed in with the command that printed them);
otherwise the card has a clearly marked "not yet measured" section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import nn

NOT_MEASURED = "Not yet measured"


def card_metadata(config: Mapping[str, Any]) -> dict[str, Any]:
    """YAML front matter: licence, library, tags, the avpet names needed to load the model, and
    where given ``datasets``, ``base_model`` and ``model-index`` (the metrics of ``avpet eval``)."""
    pretrained = config["pretrained_cfg"]
    tag = config.get("tag") or ""
    name = config["model_name"] + (f".{tag}" if tag else "")
    meta: dict[str, Any] = {
        "library_name": "avpet",
        "license": pretrained.get("license") or "other",
        "pipeline_tag": "feature-extraction",
        "tags": ["audio-visual", "video", "audio", "self-supervised", config["model_name"]],
        "model_name": name,
    }
    if pretrained.get("hf_hub_id"):
        meta["avpet_hf_hub_id"] = pretrained["hf_hub_id"]
    if config.get("datasets"):
        meta["datasets"] = list(config["datasets"])
    if config.get("base_model"):
        meta["base_model"] = config["base_model"]
    return meta


def eval_results(metrics: Mapping[str, float]) -> list:
    """``model-index`` entries (huggingface_hub ``EvalResult``) of metrics keyed ``task/name``."""
    from huggingface_hub import EvalResult

    from .evals import METRIC_TYPES, TASKS

    results = []
    for key, value in sorted(metrics.items()):
        task, sep, name = key.partition("/")
        metric_type = next((t for part, t in METRIC_TYPES.items() if part in name), None)
        if not sep or metric_type is None:
            continue  # not measured by a named avpet eval task, or not a quality metric
        what, dataset = TASKS.get(task, ("frozen-feature probes", task))
        results.append(
            EvalResult(
                task_type="feature-extraction",
                task_name=f"{what} ({task})",
                dataset_type=task,
                dataset_name=dataset,
                metric_type=metric_type,
                metric_name=name,
                metric_value=round(float(value), 4),
            )
        )
    return results


_SEGMENT = r"[^\s/;()`'\"]+"
_ABSOLUTE_PATH = re.compile(rf"(?<![\w./-])(?:/(?!/)|~/)(?:{_SEGMENT}/)*({_SEGMENT}/{_SEGMENT})")


def public_text(text: str) -> str:
    """``text`` with every absolute path shortened to its last two components (``runs/x``): a
    card is published, the layout of the machine it was written on is nobody's business."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def render_model_card(
    model: nn.Module,
    config: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    metrics_source: str | None = None,
    training_data: str | None = None,
) -> str:
    """The full ``README.md`` text for ``model`` published with ``config`` (its config.json)."""
    from huggingface_hub import ModelCard, ModelCardData

    meta = card_metadata(config)
    data = ModelCardData(**meta, eval_results=eval_results(metrics or {}) or None)
    pretrained = config["pretrained_cfg"]
    spec = pretrained["input"]
    name = meta["model_name"]
    counts = model.parameter_counts() if hasattr(model, "parameter_counts") else {}
    count_rows = "\n".join(f"| {part} | {n:,} |" for part, n in counts.items())
    sections = [
        f"# {name}",
        public_text(
            pretrained.get("description") or f"{config['architecture']} weights for avpet."
        ),
        "## Use\n\n"
        "```python\nimport avpet\n\n"
        f'model = avpet.create_model("{config["model_name"]}", '
        f'pretrained="hf-hub:{pretrained.get("hf_hub_id") or "<org>/<this repo>"}")\n'
        f'# or pretrained="local-dir:/path/to/this/folder"\n'
        "features = model.forward_features(visual=visual, audio=audio)\n```",
        "## Architecture\n\n"
        f"`{config['model_name']}` ({config['architecture']}): {model.summary} "
        "(see MODEL_CARD.md of avpet for the family). Architecture config: `config.json` "
        "(`model_cfg`).\n\n| part | parameters |\n|---|---|\n" + count_rows,
        "## Input\n\n"
        f"{spec['num_clips']} clips per sequence; video {spec['frames']} frames at "
        f"{spec['fps']} fps, {spec['size']}x{spec['size']} (test {spec['test_size']}), RGB mean "
        f"{spec['mean']} std {spec['std']}; audio {spec['sample_rate']} Hz mono, "
        + _audio_front_end(spec)
        + _feeding(spec)
        + (
            f" Frames are first cropped to rows {spec['roi'][0]}:{spec['roi'][1]}, columns "
            f"{spec['roi'][2]}:{spec['roi'][3]} of the source frame (the crop trained on)"
            + _roi_frame(spec)
            if spec.get("roi")
            else ""
        ),
        "## Training data\n\n"
        + public_text(training_data or pretrained.get("description") or "Unknown.")
        + (f"\n\nDatasets: {', '.join(meta['datasets'])}." if meta.get("datasets") else "")
        + (f"\n\nContinued from `{meta['base_model']}`." if meta.get("base_model") else ""),
        f"## Licence\n\n`{meta['license']}`.",
        "## Intended use\n\n"
        "Frozen audio-visual features (CNN, unimodal, multimodal and BOS summaries) for research "
        "on audio-visual representation learning, linear probes and retrieval; initialisation for "
        "fine-tuning.",
        "## Limits\n\n"
        "Trained and evaluated only on the data named above; features of other domains "
        "(languages, camera set-ups, sound scenes) are untested. Not for identifying people or "
        "any decision about them.",
        _results_section(metrics, metrics_source),
    ]
    body = "\n\n".join(sections)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n"))


def _roi_frame(spec: dict) -> str:
    """Where the crop applies: frames of the size it refers to (``InputSpec.roi_frame``)."""
    if not spec.get("roi_frame"):
        return "."
    height, width = spec["roi_frame"]
    return (
        f", of {width}x{height} frames; `avpet extract` applies it only to frames of that size "
        "(other videos: `--roi none`, `--roi TOP BOTTOM LEFT RIGHT` or `--roi face`)."
    )


def _audio_front_end(spec: Mapping[str, Any]) -> str:
    """How the input spec turns a clip's audio into model input (log-mel or the waveform)."""
    if spec.get("audio_format") == "waveform":
        return "the raw waveform of each clip."
    return (
        f"{spec['n_mels']} mel bands x {spec['mel_frames']} frames, "
        f"log(mel + {spec['log_offset']})."
    )


_RESIZE = {
    "dmvr": "DMVR's `resize_smallest` (TensorFlow bilinear, cast back to uint8) and centre crop, "
    "as the official VATT and MMV loaders",
    "pyslowfast": "nearest neighbour and a centre crop (offset rounded up), as PySlowFast's "
    "`random_short_side_scale_jitter` + `uniform_crop`",
}


def _feeding(spec: Mapping[str, Any]) -> str:
    """The spec's resize style, frame sampling and audio length where they are not avpet's
    defaults (older config.json files have none of them)."""
    parts = []
    if spec.get("resize_style", "avpet") != "avpet":
        side = spec["test_size"]
        parts.append(f"frames resized (shorter side {side}) with {_RESIZE[spec['resize_style']]}")
    if spec.get("frame_sampling", "rate") == "linspace":
        parts.append(
            f"the {spec['frames']} frames evenly spaced over {spec['frames'] / spec['fps']:.4g} s "
            "of source frames (PySlowFast's `temporal_sampling`)"
        )
    if spec.get("audio_seconds") is not None:
        parts.append(f"{spec['audio_seconds']:g} s of audio from each clip's start")
    return f" Fed as the authors fed them: {'; '.join(parts)}." if parts else ""


def _results_section(metrics: Mapping[str, float] | None, source: str | None) -> str:
    if not metrics:
        return (
            f"## Results\n\n**{NOT_MEASURED}.** No metric has been printed by `avpet eval` for "
            "these weights yet; this section is filled from its JSON output."
        )
    rows = "\n".join(f"| {key} | {value:.4f} |" for key, value in sorted(metrics.items()))
    origin = f"\n\nPrinted by `{public_text(source)}`." if source else ""
    return f"## Results\n\n| metric | value |\n|---|---|\n{rows}{origin}"

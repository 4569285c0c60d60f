"""``--level select``: the feature level chosen on the training split alone.

Each probe is fitted at every level the model computes; the level whose probe has the best
inner-CV accuracy on the training split gives the headline test accuracy (so the test split
never decides which level is reported). Retrieval uses the level, among those where the two
modalities share a space, with the best audio→video R@1 among the training clips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn

from .features import SELECT, available_levels
from .probe import ProbeScore, probe_accuracy, probe_score


def select_levels(
    per_level: Mapping[str, Mapping[str, ProbeScore]],
) -> tuple[dict[str, float], dict[str, str]]:
    """``per_level`` ``{level: {key: score}}`` (a key: a metric, a held-out speaker) → the test
    accuracy of the level with the best validation accuracy per key, and that level per key."""
    keys = next(iter(per_level.values())).keys()
    chosen = {k: max(per_level, key=lambda level: per_level[level][k].validation) for k in keys}
    return {k: per_level[level][k].test for k, level in chosen.items()}, chosen


def held_out_accuracies(per_level: Mapping[str, Mapping[str, ProbeScore]]) -> dict[str, dict]:
    """``{level: {key: test accuracy}}`` of ``per_level`` scores."""
    return {level: {k: s.test for k, s in scores.items()} for level, scores in per_level.items()}


@dataclass(frozen=True)
class LevelProbes:
    """Probes of one evaluation: ``headline`` ``{key: test accuracy}`` at the asked (or chosen)
    level, ``per_level`` ``{level: {key: test accuracy}}`` of every probed level, and with
    ``"select"`` the level chosen per key (``chosen``, else ``None``)."""

    headline: dict[str, float]
    per_level: dict[str, dict[str, float]]
    chosen: dict[str, str] | None


def probe_levels(
    model: nn.Module,
    level: str,
    all_levels: bool,
    probe_at: Callable[[str, Callable], Mapping[str, float | ProbeScore]],
) -> LevelProbes:
    """Run ``probe_at(level, fit)`` (``fit``: :func:`~avpet.eval.probe.probe_accuracy`, or
    :func:`~avpet.eval.probe.probe_score` to select) at ``level`` alone, or at every level
    ``model`` computes with ``all_levels`` or ``level = "select"``, and resolve the headline."""
    select = level == SELECT
    levels = available_levels(model) if all_levels or select else (level,)
    fit = probe_score if select else probe_accuracy
    scores = {lvl: probe_at(lvl, fit) for lvl in levels}
    if not select:
        return LevelProbes(dict(scores[level]), scores, None)
    headline, chosen = select_levels(scores)
    return LevelProbes(headline, held_out_accuracies(scores), chosen)


def shared_levels(model: nn.Module) -> tuple[str, ...]:
    """Levels at which ``model`` embeds both modalities in one space (for retrieval); the
    headline level when it has none."""
    shared = tuple(
        level.name
        for level in model.feature_levels()
        if level.shared and {"visual", "audio"} <= set(level.modalities)
    )
    return shared or (model.default_level,)


def select_retrieval_level(model: nn.Module, r1: Callable[[str], float]) -> str:
    """The level of :func:`shared_levels` with the highest ``r1(level)`` (R@1 on training clips)."""
    return max(shared_levels(model), key=r1)

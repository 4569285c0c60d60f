"""experiments/grid_ablations.py: resumes finished runs, re-runs stale ones, writes its table."""

import argparse
import importlib.util
import json

import pytest
from conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location(
    "grid_ablations", REPO_ROOT / "experiments" / "grid_ablations.py"
)
ablations = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablations)


def result(variant, seed, letter, recipe="r"):
    metrics = dict.fromkeys(ablations.METRICS, 0.5) | {"visual_letter_acc": letter}
    probes = dict.fromkeys(ablations.PROBE_METRICS, 0.1)
    levels = {"unimodal": probes | {"visual_digit_acc": 0.3}, "multimodal": probes}
    selected = dict.fromkeys(ablations.PROBE_METRICS, "cnn") | {"retrieval": "tokens"}
    return metrics | dict(
        variant=variant,
        seed=seed,
        levels=levels,
        selected=selected | {"visual_letter_acc": "unimodal" if seed else "cnn"},
        steps=300,
        pretrain_minutes=4.0,
        machine="m",
        recipe=recipe,
    )


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    config.write_text("{}")
    args = argparse.Namespace(
        config=config, data=tmp_path, steps=300, out=tmp_path / "out", eval_cache=tmp_path
    )
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        raise RuntimeError("would pretrain")

    monkeypatch.setattr(ablations.subprocess, "run", fake_run)
    return args, calls


def stored(args, variant, seed, recipe):
    path = args.out / variant / f"s{seed}" / "eval_grid.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(result(variant, seed, 0.25, recipe)))


def test_a_finished_run_is_read_back(sweep):
    args, calls = sweep
    recipe = ablations.recipe_hash(args)
    stored(args, "mid_lowrank_similar", 0, recipe)
    assert ablations.run("mid_lowrank_similar", 0, args)["visual_letter_acc"] == 0.25
    assert calls == []


def test_a_run_from_another_recipe_is_run_again(sweep):
    args, calls = sweep
    stored(args, "mid_lowrank_similar", 0, "an older config")
    with pytest.raises(RuntimeError, match="would pretrain"):
        ablations.run("mid_lowrank_similar", 0, args)
    assert "train.max_steps=300" in calls[0]


def test_table_is_written_between_the_markers(tmp_path):
    results = {
        "mid_lowrank_similar": [
            result("mid_lowrank_similar", s, a) for s, a in [(0, 0.1), (1, 0.3)]
        ],
        "late_lowrank_similar": [result("late_lowrank_similar", 0, 0.2)],
    }
    headline, at_output = ablations.table(results).split("At the Transformer's output")
    assert "| mid_lowrank_similar | 2 | 0.200 ± 0.141 | 0.500 ± 0.000 | 0.500 ± 0.000 |" in headline
    assert "| late_lowrank_similar | 1 | 0.200 ± 0.000 |" in headline
    assert "mid_none_similar" not in headline  # variants without results are left out
    assert (
        "Levels chosen over the 3 runs: visual_letter_acc cnn 2, unimodal 1; "
        "visual_digit_acc cnn 3; audio_digit_acc cnn 3; a2v_r1 tokens 3." in headline
    )
    # mid fusion is read at the multimodal level, late fusion at the unimodal one
    assert (
        "| mid_lowrank_similar | 2 | 0.100 ± 0.000 | 0.100 ± 0.000 | 0.100 ± 0.000 |" in at_output
    )
    assert "| late_lowrank_similar | 1 | 0.100 ± 0.000 | 0.300 ± 0.000 |" in at_output
    block = headline + "At the Transformer's output" + at_output
    doc = tmp_path / "results.md"
    start, end = ablations.MARKERS
    doc.write_text(f"before\n{start}\nold table\n{end}\nafter\n")
    ablations.write_block(doc, block)
    text = doc.read_text()
    assert "old table" not in text and block in text
    assert text.startswith(f"before\n{start}\n") and text.endswith(f"{end}\nafter\n")

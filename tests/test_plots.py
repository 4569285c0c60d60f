"""``avpet plot-metrics``: a run's metrics.jsonl as a loss-curve PNG, and its clear errors."""

from __future__ import annotations

import json

import pytest

from avpet.cli import main
from avpet.errors import ConfigError, DependencyError
from avpet.plots import read_curves
from avpet.pretrain.metrics import read_metrics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_plot_metrics_writes_a_png(tmp_path, capsys):
    metrics = tmp_path / "metrics.jsonl"
    records = [
        {"step": s, "loss": 3.0 / s, "mep": 2.0 / s, "cpp": 0.7, "lr": 1e-4} for s in range(1, 21)
    ]
    _write(metrics, records)
    out = tmp_path / "plots" / "loss.png"
    assert main(["plot-metrics", str(tmp_path), "--out", str(out), "--log-y"]) == 0
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300 and height > 200
    assert "20 steps: loss, mep, cpp" in capsys.readouterr().out


def test_read_curves_keeps_order_and_fills_gaps(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    _write(metrics, [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "cpp": 0.5}])
    curves = read_curves(metrics)
    assert curves["step"] == [1, 2] and curves["loss"] == [2.0, 1.5]
    assert curves["cpp"][1] == 0.5 and curves["cpp"][0] != curves["cpp"][0]  # nan
    assert "mep" not in curves


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read metrics"),
        ("", "no metrics records"),
        ('{"step": 1, "loss": 2.0}\n{"step": 2, "lo', "line 2 is not JSON"),
        ("[1, 2]\n", "line 1 is not an object with an integer 'step'"),
        ('{"step": 1, "lr": 0.1}\n', "none of \\['loss', 'mep', 'cpp'\\] is logged"),
        ('{"step": 1, "loss": "abc"}\n', "step 1: loss is 'abc', not a number"),
        ('{"step": 1, "loss": [1]}\n', "step 1: loss is \\[1\\], not a number"),
        ('{"step": 1, "loss": null}\n', "step 1: loss is None, not a number"),
        ("[" * 100_000 + "]" * 100_000 + "\n", "line 1 is not JSON \\(nested too deeply\\)"),
    ],
)
def test_bad_metrics_files_name_the_file(tmp_path, content, message):
    metrics = tmp_path / "metrics.jsonl"
    if content is not None:
        metrics.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        read_curves(metrics)
    assert str(metrics) in str(error.value)


def test_cli_reports_a_bad_file_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "loss.png"
    assert main(["plot-metrics", str(tmp_path / "absent.jsonl"), "--out", str(out)]) == 3
    assert "avpet plot-metrics: error:" in capsys.readouterr().err
    assert not out.exists()


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    import sys

    from avpet.plots import plot_curves

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(DependencyError, match=r'pip install "avpet\[plot\]"'):
        plot_curves({"step": [1], "loss": [1.0]}, tmp_path / "x.png")


def test_one_reader_drops_a_cut_last_line_only_when_resuming(tmp_path):
    """``read_metrics`` is the one reader: plotting refuses a cut line, resume drops it."""
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    assert read_metrics(metrics, cut_short_ok=True) == [{"step": 1, "loss": 2.0}]
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        read_metrics(metrics)
    metrics.write_text('{"step": 1, "lo\n{"step": 2, "loss": 2.0}\n')  # not a cut: corrupt
    with pytest.raises(ConfigError, match="line 1 is not JSON"):
        read_metrics(metrics, cut_short_ok=True)

"""FSDD: recording names, centred clips, leave-one-speaker-out, the benchmark end to end."""

import json

import pytest
import torch

from avpet.cli import main
from avpet.eval import fsdd


def test_leave_one_speaker_out_fits_on_other_speakers_only():
    recordings = [
        fsdd.Recording(path=None, digit=d, speaker=s, index=i)
        for s in ("a", "b", "c")
        for d in range(2)
        for i in range(3)
    ]
    features = torch.arange(len(recordings), dtype=torch.float64).view(-1, 1).numpy()
    seen = {}

    def fit(train_x, train_y, test_x, test_y, cfg):
        seen[len(seen)] = (set(train_x[:, 0]), set(test_x[:, 0]))
        return 0.5

    result = fsdd.leave_one_speaker_out(features, recordings, None, fit=fit)
    assert result == {"a": 0.5, "b": 0.5, "c": 0.5}
    for train, test in seen.values():
        assert len(test) == 6 and not train & test and len(train) == 12


@pytest.mark.slow
def test_cli_baseline_and_random_init(data_dir, capsys):
    fsdd_dir = data_dir / "fsdd"
    rc = main(f"eval fsdd --baseline --data {fsdd_dir} --per-digit 5 --probe-c 1.0 --json".split())
    assert rc == 0
    baseline = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert baseline["n_recordings"] == 300
    assert set(baseline["digit_acc"]) == set(
        ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
    )
    assert baseline["digit_acc_mean"] > 0.25  # chance 0.1
    args = f"--data {fsdd_dir} --per-digit 2 --probe-c 1.0 --all-levels --json"
    rc = main(["eval", "fsdd", "--model", "avpet_small_mid_lowrank", *args.split()])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["level"] == "unimodal" and result["n_recordings"] == 120
    assert set(result["levels"]) == {"cnn", "tokens", "unimodal", "multimodal", "bos"}
    assert all(0.0 <= v <= 1.0 for v in [*result["digit_acc"].values(), *result["levels"].values()])
    rc = main(
        ["eval", "fsdd", "--model", "avpet_small_mid_lowrank", "--level", "select", *args.split()]
    )
    assert rc == 0
    selected = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert selected["levels"] == result["levels"]  # the same probes; only the choice differs
    assert set(selected["selected"]) == set(selected["digit_acc"])  # a level per held-out speaker
    assert set(selected["selected"].values()) <= set(result["levels"])


@pytest.mark.parametrize("name", ["vatt_small", "mmv_small_tsm_fac"])
def test_cli_peer_audio_encoder_alone(name, data_dir, capsys):
    """VATT reads waveforms at its rate, MMV log-mel; the level is the peer's default."""
    args = f"--data {data_dir / 'fsdd'} --per-digit 1 --probe-c 1.0 --all-levels --json"
    assert main(["eval", "fsdd", "--model", name, *args.split()]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["model"] == name and result["n_recordings"] == 60
    assert result["level"] == "joint" and set(result["levels"]) == {"pooled", "joint"}
    assert result["levels"]["joint"] == result["digit_acc_mean"]
    assert len(result["digit_acc"]) == 6
    assert all(0.0 <= v <= 1.0 for v in [*result["digit_acc"].values(), *result["levels"].values()])


def test_peer_recordings_keep_every_clip(monkeypatch):
    """A peer encodes clips alone, so a recording longer than its one clip is not cropped."""
    from avpet.eval.features import load_model

    model = load_model("vatt_small", False, seed=0)
    spec = model.pretrained_cfg.input
    long = torch.randn(int(2.5 * spec.clip_samples))
    monkeypatch.setattr(fsdd, "read_waveform", lambda path, rate: long)
    seen = []
    real = model.forward_features

    def spy(**inputs):
        seen.append(inputs["audio"].shape)
        return real(**inputs)

    monkeypatch.setattr(model, "forward_features", spy)
    recording = fsdd.Recording(path=None, digit=0, speaker="a", index=0)
    levels = fsdd.extract(model, [recording])
    assert seen == [(1, 3, spec.clip_samples)]  # one sequence of three waveform clips
    assert levels["pooled"].shape == (1, 192) and levels["joint"].shape == (1, 256)

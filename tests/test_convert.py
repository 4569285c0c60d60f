"""``avpet convert-official`` on a checkpoint with the official names and shapes (from the spec's
key table), checked key by key, including the attention key bias that output parity cannot see."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import spec_file

import avpet
from avpet.cli import main
from avpet.convert.avbert import convert_state_dict, load_official
from avpet.errors import CheckpointError

SPEC_KEYS = spec_file("avbert_official_keys.tsv")
LAYER = "transformer.encoder.albert_layer_groups.0.albert_layers.0."


def official_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under every key of the official table (aliases share their tensor, ``base``
    is the identity, ``_B`` is a cached rotation), as a fresh-after-forward model has them."""
    if not SPEC_KEYS.is_file():
        pytest.skip(f"spec key table not found at {SPEC_KEYS}")
    rows = list(csv.DictReader(SPEC_KEYS.open(), delimiter="\t"))
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for row in rows:
        if row["alias_of"]:
            continue
        shape = [int(n) for n in row["shape"].strip("[]").split(",") if n.strip()]
        if row["dtype"] == "int64":
            state[row["key"]] = torch.randint(0, 1000, shape, generator=generator)
        elif row["key"].endswith(".base"):
            state[row["key"]] = torch.eye(shape[0])
        else:
            state[row["key"]] = torch.randn(shape, generator=generator)
    for row in rows:
        if row["alias_of"]:
            state[row["key"]] = state[row["alias_of"]]
    assert len(state) == 1055
    return state


@pytest.fixture(scope="module")
def official() -> dict[str, torch.Tensor]:
    return official_state_dict()


@pytest.fixture(scope="module")
def converted(official, tmp_path_factory):
    """The official state saved as released (``{"state_dict": {"avbert." + key: ...}}`` plus a
    pretraining head outside the backbone), converted through the CLI, loaded back."""
    tmp = tmp_path_factory.mktemp("convert")
    checkpoint = tmp / "avbert_official.pyth"
    released = {f"avbert.{k}": v for k, v in official.items()}
    released["head.cpp.fc1.weight"] = torch.zeros(3, 3)
    torch.save({"state_dict": released, "epoch": 10}, checkpoint)
    assert main(["convert-official", str(checkpoint), "--out", str(tmp / "repo")]) == 0
    return avpet.create_model("avpet_mid_lowrank", pretrained=f"local-dir:{tmp / 'repo'}")


def test_every_official_tensor_lands_where_expected(official, converted):
    ours = converted.state_dict()
    block = "transformers.encoders.0.blocks.0."
    expected = {
        "visual_cnn.stem.0.0.weight": "visual_conv.s1.pathway0_stem.conv.weight",
        "visual_cnn.stages.2.4.conv_a.1.running_var": (
            "visual_conv.s4.pathway0_res4.branch2.a_bn.running_var"
        ),
        "visual_cnn.stages.3.0.shortcut.0.weight": "visual_conv.s5.pathway0_res0.branch1.weight",
        "audio_cnn.stem.1.1.bias": "audio_conv.s1.stem.bn2.bias",
        "audio_cnn.stages.1.2.conv_b.1.0.weight": "audio_conv.s3.res2.branch2.b2.weight",
        "audio_cnn.stages.3.2.conv_b.1.num_batches_tracked": (
            "audio_conv.s5.res2.branch2.b_bn.num_batches_tracked"
        ),
        "visual_proj.fc.weight": "visual_fc.weight",
        "audio_proj.norm.bias": "audio_norm.bias",
        "bos": "summary_encoding.bos_embeddings.weight",
        "audio_embed.position.weight": "single_audio_embeddings.position_embeddings.weight",
        "multimodal_embed.token_type.weight": "multi_embeddings.token_type_embeddings.weight",
        block + "attn.key.bias": LAYER + "attention.factor_key.s_linear.bias",
        block + "attn.query.u": LAYER + "attention.factor_query.s_linear.weight",
        block + "attn_norm.weight": LAYER + "attention.LayerNorm.weight",
        block + "ffn_out.bias": LAYER + "factor_ffn_output.s_linear.bias",
        block + "ffn_norm.bias": LAYER + "full_layer_layer_norm.bias",
    }
    for avpet_key, official_key in expected.items():
        assert torch.equal(ours[avpet_key], official[official_key]), avpet_key
    for m in range(3):
        for ours_name, theirs in (
            ("attn.value", "attention.factor_value"),
            ("ffn_in", "factor_ffn"),
        ):
            factor = f"{block}{ours_name}."
            assert torch.equal(
                ours[factor + "v"][m], official[f"{LAYER}{theirs}.ms{m}_linear.weight"]
            )
            generator = official[f"{LAYER}{theirs}.orthogonal_ms{m}_linear.A"]
            assert torch.equal(ours[factor + "parametrizations.rotation.original"][m], generator)


def test_rotations_are_the_official_retraction(official, converted):
    """R_m = base @ expm(triu(A, 1) - triu(A, 1)ᵀ), base = I, as the official expRNN computes it."""
    layer = converted.transformers.encoders[0].blocks[0]
    for m in range(3):
        upper = official[f"{LAYER}attention.factor_dense.orthogonal_ms{m}_linear.A"].triu(1)
        rotation = torch.linalg.matrix_exp(upper - upper.T)
        torch.testing.assert_close(layer.attn.out.rotation[m], rotation)


def test_converted_parameter_count_is_the_official_one(converted):
    assert converted.parameter_counts()["total"] == 43_778_080


def test_differing_aliases_and_unknown_keys_are_refused(official):
    broken = dict(official)
    alias = "multi_transformer." + LAYER[len("transformer.") :] + "factor_ffn.s_linear.bias"
    broken[alias] = broken[alias] + 1
    with pytest.raises(CheckpointError, match="differs from transformer"):
        convert_state_dict(broken, "ckpt.pyth")
    extra = dict(official, **{"visual_conv.head.projection.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="no avpet counterpart.*visual_conv.head"):
        convert_state_dict(extra, "ckpt.pyth")
    flipped = -torch.eye(128)
    rotated = {
        k: flipped if k.endswith("factor_ffn.orthogonal_ms1_linear.base") else v
        for k, v in official.items()
    }
    with pytest.raises(CheckpointError, match="not the identity"):
        convert_state_dict(rotated, "ckpt.pyth")


def test_missing_official_key_fails_strict_conversion(official, tmp_path, capsys):
    partial = {k: v for k, v in official.items() if "factor_key.s_linear.bias" not in k}
    checkpoint = tmp_path / "partial.pyth"
    torch.save(partial, checkpoint)
    assert main(["convert-official", str(checkpoint), "--out", str(tmp_path / "out")]) == 3
    message = capsys.readouterr().err
    assert (
        "missing keys (1)" in message and "attn.key.bias" in message and str(checkpoint) in message
    )
    assert not (tmp_path / "out").exists()


def test_unsafe_or_unreadable_checkpoints(tmp_path):
    unsafe = tmp_path / "unsafe.pyth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "cfg": Path("/x")}, unsafe)
    with pytest.raises(CheckpointError, match="not a loadable PyTorch checkpoint") as error:
        load_official(unsafe)
    assert str(unsafe) in str(error.value)
    garbage = tmp_path / "garbage.pyth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_official(garbage)
    with pytest.raises(CheckpointError, match="no such file"):
        load_official(tmp_path / "absent.pyth")


# ---- numerical parity with the official implementation (fixture from tools/official_parity.py)

PARITY_FIXTURE = Path(__file__).parent / "fixtures" / "official_parity.safetensors"


def _parity_outputs(official_edit=None) -> tuple[dict, dict]:
    """avpet outputs on the fixture's input with its official weights (optionally edited), and
    the official outputs recorded by tools/official_parity.py."""
    from safetensors import safe_open

    from avpet.hub.weights import load_into, unique_state_dict

    with safe_open(PARITY_FIXTURE, "pt") as f:
        config = json.loads(f.metadata()["config"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    official = {
        k.removeprefix("official."): v for k, v in tensors.items() if k.startswith("official.")
    }
    if official_edit:
        official_edit(official)
    model = avpet.create_model(config["model"], **config["overrides"]).eval()
    converted = convert_state_dict(official, str(PARITY_FIXTURE))
    missing = set(unique_state_dict(model)[0]) - set(converted)
    assert missing and all(k.startswith(("visual_cnn.", "audio_cnn.")) for k in missing)
    load_into(model, converted, str(PARITY_FIXTURE), strict=False)
    with torch.no_grad():
        ours = model.transformer_outputs(
            model.visual_proj(tensors["input.visual"]), model.audio_proj(tensors["input.audio"])
        )
    theirs = {k.removeprefix("output."): v for k, v in tensors.items() if k.startswith("output.")}
    return ours, theirs


def test_transformer_stack_matches_the_official_outputs():
    ours, theirs = _parity_outputs()
    assert sorted(theirs) == ["audio", "multimodal", "visual"]
    for name, expected in theirs.items():
        torch.testing.assert_close(ours[name], expected, rtol=0, atol=1e-4)


def test_parity_check_catches_a_swapped_modality():
    def swap(state):
        q = LAYER + "attention.factor_query."
        state[q + "ms0_linear.weight"], state[q + "ms1_linear.weight"] = (
            state[q + "ms1_linear.weight"],
            state[q + "ms0_linear.weight"],
        )

    ours, theirs = _parity_outputs(swap)
    assert (ours["visual"] - theirs["visual"]).abs().max() > 10 * 1e-4

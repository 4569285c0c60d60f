"""Every registered AVBERT model: build, forward, backward, exact counts, sharing."""

import pytest
import torch
import torch.nn.functional as F
from conftest import meta_model

import avpet
from avpet.layers import FactorLinear

AVBERT = avpet.list_models("avpet_*")
SMALL = avpet.list_models("avpet_small_*")
PAPER = [n for n in AVBERT if n not in SMALL]

# docs/models.md: Transformer parameters (embeddings and BOS included) for mid fusion.
MID_COUNTS = {
    "avpet_mid_none": 127_640_064,
    "avpet_mid_layer": 21_321_984,
    "avpet_mid_all": 7_146_240,
    "avpet_mid_lowrank": 3_902_208,
}


def inputs(model, batch=2):
    spec = model.pretrained_cfg.input
    return torch.randn(batch, *spec.visual_shape), torch.randn(batch, *spec.audio_shape)


def test_registry_has_every_variant():
    assert len(SMALL) == len(PAPER) == 12
    for fusion in ("early", "mid", "late"):
        for sharing in ("none", "layer", "all", "lowrank"):
            assert f"avpet_{fusion}_{sharing}" in PAPER
            assert f"avpet_small_{fusion}_{sharing}" in SMALL


@pytest.mark.parametrize("name", AVBERT)
def test_builds_with_pretrained_cfg(name):
    model = meta_model(name)
    assert model.model_name == name
    spec = model.pretrained_cfg.input
    assert spec.num_clips >= 1 and model.pretrained_cfg.license
    counts = model.parameter_counts()
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")


@pytest.mark.parametrize("name", MID_COUNTS)
def test_paper_counts(name):
    counts = meta_model(name).parameter_counts()
    assert counts["transformer"] == MID_COUNTS[name]
    assert counts["visual_cnn"] == 31_672_128
    assert counts["audio_cnn"] == 5_839_840
    assert counts["visual_proj"] == 1_573_632 + 1_536
    assert counts["audio_proj"] == 787_200 + 1_536


def test_paper_model_total_and_lowrank_ablations():
    assert meta_model("avpet_mid_lowrank").parameter_counts()["total"] == 43_778_080
    transformer = lambda **o: meta_model("avpet_mid_lowrank", **o).parameter_counts()["transformer"]  # noqa: E731
    assert transformer(cross_layer=False) == 23_121_408
    assert transformer(rank=64) == 1_911_552
    assert transformer(rank=256) == 8_325_888
    # Without cross-Transformer sharing each stream owns only its own private factors
    # (docs/models.md: the official module also allocates unused ones, 11,589,888).
    assert transformer(cross_stream=False) == 3 * (3_843_840 - 2 * 983_040) + 58_368


@pytest.mark.parametrize("name", SMALL)
def test_small_forward_shapes_and_backward(name):
    torch.manual_seed(0)
    model = avpet.create_model(name)
    total = model.parameter_counts()["total"]
    assert (3e6 <= total <= 6e6) if name.endswith("lowrank") else total <= 8e6
    visual, audio = inputs(model)
    feats = model.forward_features(visual, audio)
    b, t, d = 2, model.pretrained_cfg.input.num_clips, model.cfg.transformer.dim
    assert feats["visual_cnn"].shape == (b, t, model.visual_cnn.num_features)
    assert feats["audio_tokens"].shape == (b, t, d)
    assert feats["visual_bos"].shape == feats["audio_bos"].shape == (b, d)
    streams = model.cfg.streams
    with torch.no_grad():  # the levels are the raw sequences' clip and BOS positions
        model.eval()
        feats = model.forward_features(visual, audio)
        seqs = model.transformer_outputs(feats["visual_tokens"], feats["audio_tokens"])
        model.train()
    if "visual" in streams:
        assert feats["visual_unimodal"].shape == feats["audio_unimodal"].shape == (b, t, d)
        assert seqs["visual"].shape == seqs["audio"].shape == (b, t + 1, d)
        torch.testing.assert_close(feats["audio_unimodal"], seqs["audio"][:, 1:])
    if "multimodal" in streams:
        assert seqs["multimodal"].shape == (b, 2 * t + 2, d)
        torch.testing.assert_close(feats["audio_bos"], seqs["multimodal"][:, t + 1])
        torch.testing.assert_close(feats["audio_multimodal"], seqs["multimodal"][:, t + 2 :])
        torch.testing.assert_close(feats["visual_multimodal"], seqs["multimodal"][:, 1 : t + 1])
    feats = model.forward_features(visual, audio)
    loss = sum(v.float().square().mean() for v in feats.values())
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert model(visual, audio).shape == (b, 2 * d)


@pytest.mark.slow
def test_paper_model_forward_at_documented_shape():
    model = avpet.create_model("avpet_mid_lowrank").eval()
    spec = model.pretrained_cfg.input
    assert spec.visual_shape == (4, 3, 32, 112, 112) and spec.audio_shape == (4, 1, 80, 128)
    with torch.no_grad():
        feats = model.forward_features(
            torch.randn(1, *spec.visual_shape), torch.randn(1, *spec.audio_shape)
        )
    assert feats["audio_multimodal"].shape == (1, 4, 768)
    assert torch.isfinite(feats["audio_multimodal"]).all()


def test_u_is_one_tensor_across_streams_and_factors_are_private():
    model = avpet.create_model("avpet_small_mid_lowrank")
    factor_layers = [m for m in model.transformers.modules() if isinstance(m, FactorLinear)]
    assert len(factor_layers) == 6  # q, k, v, o, ffn in, ffn out of the one shared block
    u_ids = {
        id(model.transformers.encoder_of(s)[0].blocks[0].attn.query.u) for s in model.cfg.streams
    }
    assert len(u_ids) == 1
    # Only the visual Transformer runs: U gets a gradient, only modality 0's factors do.
    model.eval()
    tokens = torch.randn(2, 4, model.cfg.transformer.dim)
    model.transformers(tokens, "visual").sum().backward()
    query = model.transformers.encoders[0].blocks[0].attn.query
    assert query.u.grad.abs().sum() > 0
    v_grad = query.v.grad.abs().sum(dim=(1, 2))
    r_grad = query.parametrizations.rotation.original.grad.abs().sum(dim=(1, 2))
    assert v_grad[0] > 0 and r_grad[0] > 0
    assert v_grad[1:].sum() == 0 and r_grad[1:].sum() == 0


def test_unshared_variant_has_distinct_weights_per_stream():
    model = avpet.create_model("avpet_small_mid_none")
    encoders = [model.transformers.encoder_of(s)[0] for s in model.cfg.streams]
    assert len({id(e) for e in encoders}) == 3
    assert all(len(e.blocks) == model.cfg.transformer.depth for e in encoders)


def test_rotations_orthogonal_in_model():
    model = avpet.create_model("avpet_small_mid_lowrank")
    for layer in (m for m in model.modules() if isinstance(m, FactorLinear)):
        r = layer.rotation
        eye = torch.eye(r.shape[-1]).expand_as(r)
        torch.testing.assert_close(r @ r.transpose(-1, -2), eye, atol=1e-5, rtol=0)


def test_rotation_computed_once_per_model_forward(monkeypatch):
    model = avpet.create_model("avpet_small_mid_lowrank").eval()
    calls = []
    real = torch.linalg.matrix_exp
    monkeypatch.setattr(torch.linalg, "matrix_exp", lambda a: calls.append(a.shape) or real(a))
    with torch.no_grad():
        model(*inputs(model))
    # 6 factorized linears, each exponentiating its 3 rotations in one batched call, once.
    assert len(calls) == 6 and all(shape[0] == 3 for shape in calls)


def test_attention_goes_through_sdpa(monkeypatch):
    model = avpet.create_model("avpet_small_mid_all").eval()
    calls = []
    real = F.scaled_dot_product_attention
    monkeypatch.setattr(
        F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    with torch.no_grad():
        model(*inputs(model))
    assert len(calls) == 3 * model.cfg.transformer.depth


@pytest.mark.parametrize("fusion", ["early", "mid", "late"])
def test_unimodal_use(fusion):
    model = avpet.create_model(f"avpet_small_{fusion}_lowrank").eval()
    visual, audio = inputs(model)
    with torch.no_grad():
        v = model.forward_features(visual=visual)
        a = model.forward_features(audio=audio)
    assert "audio_bos" not in v and v["visual_bos"].shape == (2, 256)
    assert "visual_bos" not in a and a["audio_bos"].shape == (2, 256)
    assert model.visual_cnn(visual[:, 0]).shape == (2, model.visual_cnn.num_features)
    assert model.audio_cnn(audio[:, 0]).shape == (2, model.audio_cnn.num_features)


def test_classifier_heads_and_reset():
    model = avpet.create_model("avpet_small_mid_lowrank", num_classes=7).eval()
    visual, audio = inputs(model)
    with torch.no_grad():
        assert model(visual, audio).shape == (2, 7)
        assert model(visual=visual).shape == (2, 7)
        assert model(audio=audio).shape == (2, 7)
    assert model.parameter_counts()["head"] > 0
    model.reset_classifier(3)
    assert model.cfg.num_classes == 3 and model(visual, audio).shape == (2, 3)
    model.reset_classifier(0)
    assert model.get_classifier() is None and model(visual, audio).shape == (2, 512)


def test_too_many_clips_is_a_clear_error():
    model = avpet.create_model("avpet_small_mid_lowrank", max_positions=4)
    with pytest.raises(avpet.ConfigError, match="position slots"):
        model(*inputs(model))


def test_dropout_is_off_in_eval_mode():
    model = avpet.create_model("avpet_small_mid_lowrank").eval()
    visual, audio = inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(model(visual, audio), model(visual, audio))


def test_grad_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = avpet.create_model("avpet_small_mid_lowrank", dropout=0.0, attn_dropout=0.0)
    visual, audio = inputs(model)

    def grads():
        model.zero_grad()
        feats = model.forward_features(visual, audio)
        (feats["visual_multimodal"].square().mean() + feats["audio_bos"].mean()).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    plain = grads()
    model.set_grad_checkpointing()
    checkpointed = grads()
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-5, rtol=1e-4)


def saved_activation_bytes(model, visual, audio) -> int:
    """Bytes autograd keeps for backward from one training forward."""
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.forward_features(visual, audio)["audio_multimodal"].sum()
    return sum(sizes)


def test_grad_checkpointing_keeps_a_fraction_of_the_activations():
    model = avpet.create_model("avpet_small_mid_lowrank").train()
    visual, audio = inputs(model)
    plain = saved_activation_bytes(model, visual, audio)
    model.set_grad_checkpointing()
    assert saved_activation_bytes(model, visual, audio) < 0.25 * plain


def test_visual_cnn_weights_are_channels_last_and_save_contiguous(tmp_path):
    model = avpet.create_model("avpet_small_mid_lowrank")
    weight = model.visual_cnn.stem[0][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not weight.is_contiguous()
    from avpet.hub.repo import save_pretrained

    save_pretrained(model, tmp_path)
    loaded = avpet.create_model("avpet_small_mid_lowrank", pretrained=f"local-dir:{tmp_path}")
    for (name, saved), (_, restored) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(restored, saved, msg=name)

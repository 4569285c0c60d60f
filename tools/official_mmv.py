"""Build the official MMV (deepmind-research ``mmv/``, JAX / Haiku) with random weights, save it as
the released checkpoints are saved, and record its outputs: the reference for
``tools/official_mmv_parity.py`` and the CI fixtures ``tests/fixtures/mmv_official_*``.

Runs in a JAX + Haiku + dill environment, not avpet's: nothing of avpet is imported. The model is
the official ``AudioTextVideoEmbedding`` with the official config of the checkpoint
(``mmv/config.py``: ``fac_relu`` heads, audio ResNet50 v2, cross-replica BatchNorm), imported from
the checkout given with ``--official`` (the folder holding ``mmv/``). Parameters are initialised
in training mode on a one-device ``pmap`` (cross-replica BatchNorm needs its axis), so the
audio-to-text head the released files carry exists too; every parameter is then redrawn at
random and every BatchNorm's moving statistics set to those of 32 random inputs (a
training-mode pass whose averages keep only that batch: drawn statistics left the deep S3D's
video output constant), written with ``dill.dump({"params", "state"})`` in float32 (as
``mmv/utils/checkpoint.py`` reads them), and the model run in eval mode in float64 on random
inputs (the S3D input goes through the eval's ``space_to_depth_batch``, re-done here in numpy).

``--size tiny`` shrinks every convolution's output channels to ``max(8, c // 64)`` (a subclass of
Haiku's ``Conv2D``/``Conv3D`` under the same class name, so the parameter paths are the released
ones), the word table to 20 words of 16 dimensions and the heads to 8-12 dimensions, to make
fixtures of a few hundred KB; everything else is the official code unchanged.

    python tools/official_mmv.py --official /work/mmv_official --model s3d --out /tmp/mmv_s3d
    python tools/official_mmv.py --official ... --model tsm_x2 --size tiny --out tests/fixtures/...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

CHECKPOINTS = {
    "s3d": "mmv_s3d.pkl",
    "tsm": "mmv_tsm_resnet_x1.pkl",
    "tsm_x2": "mmv_tsm_resnet_x2.pkl",
}
# size: batch, frames, height/width, spectrogram frames, mel bins, words, vocabulary, word dim
SIZES = {"full": (2, 8, 112, 96, 40, 16, 2**16, 300), "tiny": (2, 4, 16, 24, 16, 6, 20, 16)}
TINY_DIVISOR, TINY_MIN = 64, 8
CALIBRATION = 32  # random inputs whose statistics the BatchNorm layers keep


def shrink_convolutions(hk) -> None:
    """Replace ``hk.Conv2D`` / ``hk.Conv3D`` by same-named subclasses with fewer output channels."""

    def small(base):
        class Small(base):
            def __init__(self, output_channels, *args, **kwargs):
                super().__init__(max(TINY_MIN, output_channels // TINY_DIVISOR), *args, **kwargs)

        Small.__name__ = Small.__qualname__ = base.__name__
        Small.shrunk = True
        return Small

    if not getattr(hk.Conv2D, "shrunk", False):
        hk.Conv2D, hk.Conv3D = small(hk.Conv2D), small(hk.Conv3D)


def space_to_depth(video: np.ndarray) -> np.ndarray:
    """``space_to_depth_batch`` of ``mmv/eval_ucf101.py``: ``[B, T, H, W, 3]`` →
    ``[B, T/2, H/2, W/2, 24]``."""
    b, t, h, w, c = video.shape
    x = video.reshape(b, t // 2, 2, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4, 6, 7)
    return x.reshape(b, t // 2, h // 2, w // 2, 8 * c)


def randomize(tree, rng: np.random.Generator) -> dict:
    """Every parameter redrawn: weights ~ N(0, 1/fan_in), BN scale U(0.5, 1.5), offset and bias
    N(0, 0.1²), word embeddings N(0, 1)."""
    out = {}
    for module, leaves in tree.items():
        out[module] = {}
        for name, value in leaves.items():
            value = np.asarray(value)
            shape = value.shape
            if name == "scale":
                value = rng.uniform(0.5, 1.5, shape)
            elif name in ("offset", "b"):
                value = rng.normal(0.0, 0.1, shape)
            elif name == "embeddings":
                value = rng.normal(0.0, 1.0, shape)
            else:  # w: fan-in is every axis but the last
                value = rng.normal(0.0, 1.0, shape) / np.sqrt(np.prod(shape[:-1]))
            out[module][name] = value.astype(np.asarray(leaves[name]).dtype)
    return out


def build(model: str, size: str, decay_rate: float | None = None):
    """The official ``AudioTextVideoEmbedding`` of ``model``'s checkpoint config at ``size`` (the
    official ``mmv`` package importable): ``(hk.transform_with_state(forward), model_config)``,
    ``forward(images, audio, word_ids, is_training)``. ``decay_rate`` replaces every BatchNorm's
    moving-average decay (0: a training-mode pass stores that batch's statistics)."""
    import haiku as hk
    import jax.numpy as jnp
    from mmv import config as mmv_config
    from mmv.models import mm_embeddings

    if size == "tiny":
        shrink_convolutions(hk)
    vocab, word_dim = SIZES[size][6:]
    model_config = mmv_config.get_model_config(CHECKPOINTS[model])
    if size == "tiny":  # the heads' widths are config, the rest follows the convolutions
        model_config["sentence_dim"] = 24
        model_config["config_video_audio"]["toaud_head_mode"] = "mlp@12"
        for key in ("config_video_audio", "config_audio_text"):
            model_config[key]["embedding_dim"] = 12
        model_config["config_video_text"]["embedding_dim"] = 8
    if decay_rate is not None:
        for bn in (model_config["bn_config_proj"], model_config["audio_model_kwargs"]["bn_config"],
                   model_config["vision_model_kwargs"]["bn_config"]):  # fmt: skip
            bn["decay_rate"] = decay_rate

    def forward(images, audio, word_ids, is_training):
        module = mm_embeddings.AudioTextVideoEmbedding(
            **model_config, word_embedding_matrix=jnp.zeros((vocab, word_dim))
        )
        return module(images, audio, word_ids, is_training=is_training)

    return hk.transform_with_state(forward), model_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, help="folder holding the official mmv/")
    parser.add_argument("--model", choices=sorted(CHECKPOINTS), required=True)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.official)

    import dill
    import haiku as hk
    import jax
    import jax.numpy as jnp
    from mmv.models import mm_embeddings

    batch, frames, size, spec_frames, mels, words, vocab, _ = SIZES[args.size]
    net, model_config = build(args.model, args.size)

    def audio_to_text(audio_repr):
        """The audio-to-text head (used in training only) on the eval audio representation."""

        class TextAudioVideo(hk.Module):  # the official top module's name, for its paths
            def __call__(self, x):
                return mm_embeddings.EmbeddingModule(
                    model_config["config_audio_text"]["embedding_dim"],
                    mode=model_config["config_audio_text"]["totxt_head_mode"],
                    use_bn_out=model_config["config_audio_text"]["totxt_bn_after_proj"],
                    bn_config=model_config["bn_config_proj"],
                    name="audio2txt_embd",
                )(x, is_training=False)

        return TextAudioVideo(name=model_config["name"])(audio_repr)

    rng = np.random.default_rng(args.seed)
    video = rng.uniform(0.0, 1.0, (batch, frames, size, size, 3)).astype(np.float32)
    audio = rng.normal(0.0, 1.0, (batch, spec_frames, mels, 1)).astype(np.float32)
    text = rng.integers(1, vocab, (batch, words)).astype(np.int32)
    text[0, words // 2 :] = 0  # padding
    images = space_to_depth(video) if args.model == "s3d" else video

    init = jax.pmap(
        lambda key, v, a, t: net.init(key, v, a, t, is_training=True),
        axis_name="i",
    )
    params, state = init(
        jax.random.PRNGKey(args.seed)[None],
        *(jnp.asarray(x[None, :1], dtype=jnp.float32 if x.dtype.kind == "f" else x.dtype)
          for x in (images, audio, text)),
    )  # fmt: skip
    params = randomize(jax.tree_util.tree_map(lambda x: np.asarray(x[0]), params), rng)
    state = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), state)
    # BatchNorm statistics measured on CALIBRATION more random inputs (a training-mode pass that
    # keeps only this batch's), so that eval mode normalises as training would: with drawn
    # statistics the deep S3D's video output stopped depending on its input (2e-7 apart for two
    # random clips); measured on the two recorded inputs alone, the heads' BatchNorm over two
    # samples blew the outputs up.
    calibration = (
        rng.uniform(0.0, 1.0, (CALIBRATION, frames, size, size, 3)).astype(np.float32),
        rng.normal(0.0, 1.0, (CALIBRATION, spec_frames, mels, 1)).astype(np.float32),
        rng.integers(1, vocab, (CALIBRATION, words)).astype(np.int32),
    )
    if args.model == "s3d":
        calibration = (space_to_depth(calibration[0]), *calibration[1:])
    measure, _ = build(args.model, args.size, decay_rate=0.0)
    _, state = jax.pmap(
        lambda p, s, v, a, t: measure.apply(p, s, None, v, a, t, is_training=True),
        axis_name="i",
    )(*jax.tree_util.tree_map(lambda x: x[None], (params, state, *calibration)))
    state = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), state)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / CHECKPOINTS[args.model], "wb") as handle:
        dill.dump({"params": params, "state": state}, handle)

    jax.config.update("jax_enable_x64", True)
    as64 = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), params)
    state64 = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, jnp.float64) if x.dtype.kind == "f" else x, state
    )
    result, _ = net.apply(
        as64, state64, None, images.astype(np.float64), audio.astype(np.float64), text,
        is_training=False,
    )  # fmt: skip
    head = hk.transform(audio_to_text)  # its path lacks the method scope (``~_get_pair_...``)
    head_params = {re.sub(r"/~[^/]*", "", k): v for k, v in as64.items() if "audio2txt" in k}
    audio_at = head.apply(head_params, None, result["aud_repr"])
    outputs = {
        "video_pooled": result["vid_repr"],
        "audio_pooled": result["aud_repr"],
        "video_va": result["vid_embd"]["toaud"],
        "video_vt": result["vid_embd"]["totxt"],
        "audio_va": result["aud_embd"]["tovid"],
        "audio_vt": result["aud_embd"]["totxt"],
        "audio_at": audio_at,
        "text_vt": result["txt_embd"]["tovid"],
        "text_at": result["txt_embd"]["toaud"],
    }
    np.savez_compressed(
        out / "parity.npz",
        video=video,
        audio=audio,
        text=text,
        **{f"out_{k}": np.asarray(v) for k, v in outputs.items()},
    )
    counts = {
        "total": int(sum(np.size(v) for leaves in params.values() for v in leaves.values())),
        **{
            part: int(
                sum(np.size(v) for m, leaves in params.items() if f"/{part}/" in m + "/"
                    for v in leaves.values())
            )
            for part in ("visual_module", "audio_module", "text_module")
        },
    }  # fmt: skip
    record = {
        "model": args.model,
        "checkpoint": CHECKPOINTS[args.model],
        "size": args.size,
        "seed": args.seed,
        "jax": jax.__version__,
        "haiku": hk.__version__,
        "dill": dill.__version__,
        "parameters": counts,
        "params_modules": len(params),
        "state_modules": len(state),
    }
    (out / "official.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())

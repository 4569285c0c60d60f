"""Build the official VATT (google-research ``vatt/``, TF2) with random weights, save it as the
released checkpoints are saved, and record its outputs on random inputs: the reference for
``tools/official_vatt_parity.py`` and the CI fixture ``tests/fixtures/vatt_official``.

Runs in a TensorFlow 2.15 (Keras 2) environment, not avpet's: nothing of avpet is imported. The
official layers (``ViTx3D``, ``AuTx1D``, ``T5Encoder``, ``LanguageModel``, ``FACHead``) are
imported from the checkout given with ``--official`` (the folder holding ``vatt/``); only their
containers, which hold no computation (``VideoModel``/``AudioModel``'s ``_base`` and ``_ops``,
``AudioTextVideoFusion``, ``MMRLModel``), are stood in for here with the official attribute names,
so the checkpoint keys are the released ones
(``model/_base_layer/vid_backbone/_base/tx/layers/0/mha/q/kernel``, …). One Adam step with the
legacy Keras optimizer adds the ``.OPTIMIZER_SLOT`` entries the released files carry.

The inputs fill the position tables unless ``--video``, ``--samples`` or ``--words`` ask for
another size; then the official ``ExpandableEmbedding`` reads its tables through
``tfa.image.interpolate_spline`` in float32, as released. ``--spline-float64`` has that same
tfa function run on float64 copies of its inputs (result cast back to float32): tfa's system
for the 1200-row audio table has a condition number of about 1e12, and its float32 solution
is noise.

    python tools/official_vatt.py --official /tmp/google-research --size full --out /tmp/vatt_bbs
    python tools/official_vatt.py --official ... --size tiny --out tests/fixtures/vatt_official
    python tools/official_vatt.py --official ... --size full --video 8 64 64 --samples 38400 \
        --spline-float64 --out /tmp/vatt_bbs_8x64
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

# (video, audio, text) Transformer sizes: d_model, num_layers, num_heads, d_ff; d_kv per head
SIZES = {
    "full": dict(
        video=(768, 12, 12, 3072),
        audio=(768, 12, 12, 3072),
        text=(512, 6, 8, 2048),
        video_buckets=(8, 14, 14),
        audio_buckets=1200,
        vocab=2**16,
        va=512,
        vt=256,
        batch=1,
        post=1024,
        d_kv=64,
        video_patch=(4, 16, 16),
    ),
    "tiny": dict(
        video=(8, 2, 1, 16),
        audio=(8, 2, 1, 16),
        text=(8, 2, 2, 16),
        video_buckets=(2, 2, 2),
        audio_buckets=6,
        vocab=20,
        va=12,
        vt=8,
        batch=2,
        post=12,
        d_kv=64,
        video_patch=(2, 8, 8),
    ),
}
# tiny widths with tables long enough for the spline to bend (records at other grids)
SIZES["grid"] = dict(SIZES["tiny"], video_buckets=(4, 5, 5), audio_buckets=12)
AUDIO_PATCH = 128
WORDS = 16


def build(tf, size: dict, num_classes: int | None, unified: bool):
    """The official pretraining model (FAC heads; ``unified``: one modality-agnostic Transformer,
    ``ut_fac``) or, with ``num_classes``, a video classifier."""
    from vatt.modeling.backbones.audio.autx1d import AuTx1D
    from vatt.modeling.backbones.text.factory import LanguageModel
    from vatt.modeling.backbones.text.t5 import T5Encoder
    from vatt.modeling.backbones.video.vitx3d import ViTx3D
    from vatt.modeling.heads.bridge import FACHead

    def transformer(dims):
        d_model, layers, heads, d_ff = dims
        return dict(
            d_model=d_model,
            d_kv=size["d_kv"],
            d_ff=d_ff,
            num_layers=layers,
            num_heads=heads,
            pre_norm=True,
            use_bias=True,
            activation="gelu",
            dropout_rate=0.1,
            layer_norm_epsilon=1e-6,
            use_masking=False,
        )

    t, h, w = size["video_buckets"]

    class Backbone(tf.keras.Model):
        """``VideoModel`` / ``AudioModel``: ``_base`` and the classifier in ``_ops['cls']``."""

        def __init__(self, base, classes=None):
            super().__init__()
            self._base = base
            self._ops = {}
            if classes:
                self._ops["cls"] = tf.keras.layers.Dense(classes, name="classification/weights")

        def call(self, x, training=False):
            pooled, ends = self._base(x, training=training)
            out = {"features_pooled": pooled, "features": ends["predictions"]}
            if "cls" in self._ops:
                out["logits"] = self._ops["cls"](pooled)
            return out

    video = Backbone(
        ViTx3D(
            temporal_patch_size=size["video_patch"][0],
            spatial_patch_size=size["video_patch"][1],
            max_temporal_buckets=t,
            max_vertical_buckets=h,
            max_horizontal_buckets=w,
            **transformer(size["video"]),
        ),
        num_classes,
    )
    if num_classes:
        return video

    text_params = transformer(size["text"])
    for key in ("pre_norm", "use_bias", "use_masking"):
        del text_params[key]
    text_params.update(
        vocab_size=size["vocab"],
        d_embedding=300,
        use_agg_token=True,
        trainable_embeddings=False,
        is_transformer=True,
        d_pre_proj=size["text"][0],
        d_post_proj=None,
        num_relative_buckets=32,
        max_relative_distance=64,
    )
    text = LanguageModel(
        T5Encoder, SimpleNamespace(**text_params, as_dict=lambda: dict(text_params))
    )

    class Unified(tf.keras.Model):
        """``UnifiedModule``: ``unified_transformer`` (and ``_ops``, empty without classes)."""

        def __init__(self):
            from vatt.modeling.backbones.unified.uvatt import UniversalVATT

            super().__init__()
            d_model, layers, heads, d_ff = size["video"]
            self.unified_transformer = UniversalVATT(
                vid_temporal_patch_size=size["video_patch"][0],
                vid_spatial_patch_size=size["video_patch"][1],
                aud_temporal_patch_size=AUDIO_PATCH,
                txt_vocab_size=size["vocab"],
                d_model=d_model,
                d_kv=size["d_kv"],
                d_ff=d_ff,
                num_layers=layers,
                num_heads=heads,
                max_vid_temporal_buckets=t,
                max_vid_spatial_buckets=h,
                max_aud_temporal_buckets=size["audio_buckets"],
                max_txt_temporal_buckets=WORDS,
                d_post_proj=size["post"],
            )
            self._ops = {}

        def call(self, video, audio, word_ids, training=False):
            mask = tf.where(word_ids == 0, 0, 1)
            return self.unified_transformer(
                {
                    "video": {"data": video},
                    "audio": {"data": audio},
                    "text": {"data": word_ids, "attention_mask": mask},
                },
                training=training,
            )

    class UnifiedFusion(tf.keras.layers.Layer):
        """``UnifiedFusion``: ``unified_backbone``."""

        def __init__(self):
            super().__init__()
            self.unified_backbone = Unified()

        def call(self, video, audio, word_ids, training=False):
            return self.unified_backbone(video, audio, word_ids, training=training)

    class Fusion(tf.keras.layers.Layer):
        """``AudioTextVideoFusion``: ``vid_backbone``, ``aud_backbone``, ``txt_backbone``."""

        def __init__(self):
            super().__init__()
            self.vid_backbone = video
            self.aud_backbone = Backbone(
                AuTx1D(
                    temporal_patch_size=AUDIO_PATCH,
                    temporal_patch_stride=AUDIO_PATCH,
                    max_temporal_buckets=size["audio_buckets"],
                    **transformer(size["audio"]),
                )
            )
            self.txt_backbone = text

        def call(self, video, audio, word_ids, training=False):
            mask = tf.where(word_ids == 0, 0, 1)
            out = self.txt_backbone(word_ids, training=training, attention_mask=mask)
            return {
                "video": self.vid_backbone(video, training=training),
                "audio": self.aud_backbone(audio, training=training),
                "text": {
                    "features_pooled": out["sentence_embeddings"],
                    "features": out["word_embeddings"],
                },
            }

    class Heads(tf.keras.layers.Layer):
        """``HeadStack``: ``_bridge_heads`` = [FACHead]."""

        def __init__(self):
            super().__init__()
            bn = {"momentum": 0.9, "epsilon": 1e-5, "scale": True, "name": "batch_norm"}
            self._bridge_heads = [
                FACHead(
                    bn_config=dict(bn),
                    use_xreplica_bn=True,
                    vid_to_aud_txt_kwargs={"d_model": size["va"]},
                    aud_to_vid_txt_kwargs={"d_model": size["va"]},
                    txt_to_vid_aud_kwargs={"d_model": size["vt"]},
                )
            ]

        def call(self, features, training=False):
            return self._bridge_heads[0](features, training=training)

    class MMRLModel(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self._base_layer = UnifiedFusion() if unified else Fusion()
            self._head_layer = Heads()

        def call(self, inputs, training=False):
            features = self._base_layer(
                inputs["video"], inputs["audio"], inputs["text"], training=training
            )
            return features, self._head_layer(features, training=training)

    return MMRLModel()


def spline_in_float64(tf) -> None:
    """Have tfa's ``interpolate_spline``, which the official ``ExpandableEmbedding`` calls with
    float32 points and table, run its own algorithm on float64 copies (result back in the
    table's dtype)."""
    import tensorflow_addons.image as tfa_image

    as_released = tfa_image.interpolate_spline

    def spline(train_points, train_values, query_points, order, **kwargs):
        points = [tf.cast(x, tf.float64) for x in (train_points, train_values, query_points)]
        return tf.cast(as_released(*points, order, **kwargs), train_values.dtype)

    tfa_image.interpolate_spline = spline


def smooth_rows(rng, rows: int, dim: int, std: float) -> np.ndarray:
    """``[rows, dim]``: per column a sum of 8 sinusoids of 1 to 8 periods over the rows."""
    x = np.arange(rows)[:, None] / rows
    waves = [
        np.sin(2 * np.pi * f * x + rng.uniform(0, 2 * np.pi, dim)) * rng.normal(0, 1, dim)
        for f in range(1, 9)
    ]
    return std * sum(waves) / 2


def randomize(tf, model, seed: int, smooth_positions: bool = False) -> None:
    """Every variable (BN statistics included) to random values so that no mapping is trivial;
    with ``smooth_positions`` the learned position tables are smooth curves of the same scale."""
    rng = np.random.default_rng(seed)
    for variable in model.variables:
        shape = variable.shape.as_list()
        if smooth_positions and "position_embeddings" in variable.name:
            value = smooth_rows(rng, shape[0], shape[1], 0.5 / shape[0] ** 0.5)
        elif "moving_variance" in variable.name:
            value = rng.uniform(0.5, 2.0, shape)
        elif "gamma" in variable.name or variable.name.endswith("weight:0"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.5 / max(1, shape[0]) ** 0.5 if len(shape) > 1 else 0.1, shape)
        variable.assign(value.astype(np.float32))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, type=Path, help="folder holding vatt/")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--classes", type=int, default=0, help="build a video classifier")
    parser.add_argument(
        "--unified", action="store_true", help="the modality-agnostic model (ut_fac, Medium size)"
    )
    parser.add_argument(
        "--video",
        type=int,
        nargs=3,
        metavar=("FRAMES", "HEIGHT", "WIDTH"),
        help="video input size (default: the position tables × the patch)",
    )
    parser.add_argument("--samples", type=int, help="waveform samples (default: table × 128)")
    parser.add_argument("--words", type=int, default=WORDS, help="word ids, the last 5 padding")
    parser.add_argument(
        "--spline-float64",
        action="store_true",
        help="run tfa's interpolate_spline in float64 (the official code runs it in float32)",
    )
    parser.add_argument(
        "--smooth-positions",
        action="store_true",
        help="smooth random position tables (white noise is the spline's worst case)",
    )
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(args.official))
    import tensorflow as tf

    if args.spline_float64:
        spline_in_float64(tf)
    size = SIZES[args.size]
    rng = np.random.default_rng(args.seed + 1)
    batch = size["batch"]
    native = [n * p for n, p in zip(size["video_buckets"], size["video_patch"], strict=True)]
    frames, height, width = args.video or native
    video = rng.uniform(0, 1, (batch, frames, height, width, 3))
    samples = args.samples or size["audio_buckets"] * AUDIO_PATCH
    audio = rng.uniform(-1, 1, (batch, samples, 1))
    words = rng.integers(1, size["vocab"], (batch, args.words))
    words[:, args.words - 5 :] = 0  # padding
    inputs = {
        "video": tf.constant(video, tf.float32),
        "audio": tf.constant(audio, tf.float32),
        "text": tf.constant(words, tf.int32),
    }
    if args.unified and args.size == "full":  # UT-Medium: one Medium Transformer for all
        size = dict(size, video=(1024, 12, 16, 4096))
    model = build(tf, size, args.classes or None, args.unified)
    if args.classes:
        model(inputs["video"])
    else:
        model(inputs)
    randomize(tf, model, args.seed, args.smooth_positions)
    optimizer = tf.keras.optimizers.legacy.Adam(1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(
            tf.nest.flatten(
                model(inputs["video"], training=False)
                if args.classes
                else model(inputs, training=False)
            )[0]
        )
    trainable = model.trainable_variables
    grads = tape.gradient(loss, trainable)
    optimizer.apply_gradients(
        [
            (g if g is not None else tf.zeros_like(v), v)
            for g, v in zip(grads, trainable, strict=True)
        ]
    )
    randomize(tf, model, args.seed, args.smooth_positions)  # the step moved the weights
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = tf.train.Checkpoint(model=model, optimizer=optimizer).write(str(args.out / "ckpt-1"))
    outputs = {}
    if args.classes:
        result = model(inputs["video"], training=False)
        outputs = {"video_pooled": result["features_pooled"], "logits": result["logits"]}
    else:
        features, heads = model(inputs, training=False)
        outputs = {
            "video_pooled": features["video"]["features_pooled"],
            "audio_pooled": features["audio"]["features_pooled"],
            "text_pooled": features["text"]["features_pooled"],
            **{
                f"{m}_tokens": tf.reshape(
                    features[m]["features"],
                    [features[m]["features"].shape[0], -1, features[m]["features"].shape[-1]],
                )
                for m in ("video", "audio", "text")
            },
            "video_va": heads["video"]["toaud"],
            "video_vt": heads["video"]["totxt"],
            "audio_va": heads["audio"]["tovid"],
            "text_vt": heads["text"]["tovid"],
        }
    np.savez_compressed(
        args.out / "parity.npz",
        video=video.astype(np.float32),
        audio=audio.astype(np.float32),
        text=words.astype(np.int64),
        **{f"out_{k}": v.numpy() for k, v in outputs.items()},
    )
    trainable_count = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    (args.out / "official.json").write_text(
        json.dumps(
            {
                "size": args.size,
                "classes": args.classes,
                "video": [frames, height, width],
                "native_video": native,
                "samples": samples,
                "native_samples": size["audio_buckets"] * AUDIO_PATCH,
                "words": args.words,
                "spline": "float64" if args.spline_float64 else "float32 (as released)",
                "position_tables": "smooth" if args.smooth_positions else "white noise",
                "tensorflow": tf.__version__,
                "trainable_parameters": trainable_count,
                "checkpoint": Path(prefix).name,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {prefix} ({trainable_count:,} trainable parameters) and parity.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())

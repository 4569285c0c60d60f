"""Record the authors' own preprocessing of the bundled sample clip, the reference that
``tests/test_official_preprocessing.py`` replays against avpet's evaluation transform (no
TensorFlow there): ``tests/fixtures/official_preprocessing.npz``.

The official functions are imported from checkouts named on the command line and run on the
frames avpet decodes (nothing of them is copied here):

* VATT: DMVR's ``modalities.add_image`` pipeline (parse, sample, decode, ``resize_smallest``,
  ``crop_image``, ``normalize_image``) with the arguments VATT's ``EvalLoader`` /
  ``VisionEvalLoader`` pass (``vatt/data/dataloaders.py``: ``min_resize = crop_size =
  frame_size`` 224, ``stride = video_stride`` 2, ``zero_centering_image`` True, from
  ``vatt/configs/dataset.py``). The frames go in as lossless PNGs, which ``decode_jpeg`` reads.
* MMV: ``process_samples`` of ``mmv/eval_ucf101.py`` with what its ``main`` passes (``stride``
  2, ``min_resize`` 224, ``crop_size`` 224, ``num_windows`` 10 at test). That module's other
  imports (JAX, Haiku, scikit-learn, TFDS, the MMV model), which ``process_samples`` does not
  use, are stood in for by empty modules; so are DMVR's text tokenizer module and, for AVBERT,
  torchaudio (the visual functions run do not use them).
* AVBERT: ``data/utils.py`` ``temporal_sampling`` and ``apply_visual_transform`` of
  sangho-vision/avbert (PySlowFast) with its Kinetics-Sounds test settings (``TEST_CROP_SIZE``
  128, ``NUM_FRAMES`` 32, ``SAMPLING_RATE`` 2, ``TARGET_FPS`` 30, mean 0.45, std 0.225).
* End to end: the official tiny VATT (``tools/official_vatt.py``'s build with the checkpoint of
  ``tests/fixtures/vatt_official``) on DMVR's preprocessing of the clip, against ``avpet
  extract`` with that checkpoint converted (``tests/fixtures/vatt_official/sample_clip.npz``);
  the official tiny MMV S3D (``tools/official_mmv.py``'s build, the pickle of
  ``tests/fixtures/mmv_official_s3d``) on ``process_samples``' views of the clip, video only
  (``tests/fixtures/mmv_official_s3d/sample_clip.npz``).

Steps (``dmvr`` and ``vatt-model`` in a TensorFlow 2.15 environment, ``mmv-model`` in a JAX +
dm-haiku + dill + optax one, the others in avpet's)::

    python tools/official_preprocessing.py decode --work /tmp/feed
    TF=/path/to/tf-venv/bin/python
    $TF tools/official_preprocessing.py dmvr --work /tmp/feed --dmvr DMVR --mmv DEEPMIND_RESEARCH
    $TF tools/official_preprocessing.py vatt-model --work /tmp/feed --dmvr DMVR --vatt VATT
    JAX=/path/to/jax-venv/bin/python
    $JAX tools/official_preprocessing.py mmv-model --work /tmp/feed --mmv DEEPMIND_RESEARCH
    python tools/official_preprocessing.py pyslowfast --work /tmp/feed --avbert AVBERT
    python tools/official_preprocessing.py report --work /tmp/feed [--write]

(DMVR: a checkout of google-deepmind/dmvr; DEEPMIND_RESEARCH: one holding ``mmv/``; VATT: the
folder holding google-research's ``vatt/``; AVBERT: a checkout of sangho-vision/avbert.)

``report`` prints avpet's largest difference from every official output (32-frame views that
start at the same source frame, the frame indices of the official test windows, the tiny VATT's
and MMV's features) and, with ``--write``, stores the fixtures: the views' first source frame
and each official view's first frame, as uint8 levels that reproduce the official float output
bit for bit, and the official tiny models' features.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "grid_s1_bbaf2n.mp4"
FIXTURE = ROOT / "tests" / "fixtures" / "official_preprocessing.npz"
FRAMES, STRIDE, SIZE = 32, 2, 224  # VATT's and MMV's evaluation: 32 frames at stride 2, 224²
AVBERT_CFG = {"NUM_FRAMES": 32, "SAMPLING_RATE": 2, "TARGET_FPS": 30, "TEST_CROP_SIZE": 128}
# The tiny VATT record (tests/fixtures/vatt_official, 4 frames of 16², 768 samples) fed as the
# released sizes are: `avpet extract`'s consecutive clips of 4 frames at 12.5 fps from 0 s; the
# first 9 lie inside the 3-s clip (past its end DMVR loops the frames, avpet repeats the last).
TINY = {"frames": 4, "fps": 12.5, "size": 16, "sample_rate": 4800, "samples": 768, "clips": 9}
FIRST = 5  # DMVR's middle clip of the 75-frame sample starts there: (75 - 32 * 2) // 2


def decode(work: Path) -> None:
    """The sample clip's frames and timestamps as avpet's reader decodes them, and the sound of
    the tiny VATT record's clips (:data:`TINY`) as ``avpet extract`` reads it."""
    from avpet.data.clips import audio_begin
    from avpet.data.io import AudioStream, probe, reader_for

    info = probe(str(CLIP))
    with reader_for(info, "pyav", 1) as reader:
        frames = reader.frames(list(range(info.num_frames))).numpy()
    rate, samples, seconds = TINY["sample_rate"], TINY["samples"], TINY["frames"] / TINY["fps"]
    with AudioStream(info, rate) as stream:
        audio = [
            stream.read(audio_begin(k * seconds, rate), samples).numpy()
            for k in range(TINY["clips"])
        ]
    np.savez(work / "decoded.npz", frames=frames, times=info.frame_times, fps=info.fps, audio=audio)
    print(f"decoded {frames.shape} at {info.fps} fps")


class _Unused:
    """What a stand-in module gives for any attribute: enough for annotations and decorators
    at import time, nothing that computes."""

    def __getattr__(self, name: str) -> _Unused:
        return self

    def __call__(self, *args, **kwargs) -> _Unused:
        return self


def stub(name: str) -> None:
    """An empty stand-in for a module the official file imports but the function run never
    uses."""
    module = types.ModuleType(name)
    module.__getattr__ = lambda attr: _Unused()  # type: ignore[method-assign]
    sys.modules[name] = module


def run_dmvr(work: Path, dmvr: Path, mmv: Path) -> None:
    import tensorflow as tf

    for name in ("dmvr.tokenizers", "haiku", "jax", "jax.numpy", "sklearn", "sklearn.linear_model",
                 "sklearn.svm", "sklearn.preprocessing", "tensorflow_datasets", "mmv.config",
                 "mmv.models", "mmv.models.mm_embeddings", "mmv.utils", "mmv.utils.checkpoint",
                 "mmv.utils.ucf101_dataset"):  # fmt: skip
        stub(name)
    sys.path[:0] = [str(dmvr), str(mmv)]
    from dmvr import builders, modalities
    from mmv import eval_ucf101

    frames = np.load(work / "decoded.npz")["frames"]

    def vatt(frames: np.ndarray, num_test_clips: int = 1) -> np.ndarray:
        """``modalities.add_image`` as VATT's ``processing.add_vision`` calls it at evaluation,
        on a ``tf.train.SequenceExample`` of the frames as PNGs."""
        example = tf.train.SequenceExample()
        encoded = example.feature_lists.feature_list["image/encoded"]
        for frame in frames:
            encoded.feature.add().bytes_list.value.append(tf.io.encode_png(frame).numpy())
        parser = builders.SequenceExampleParserBuilder()
        stages = [
            builders.SamplerBuilder(),
            builders.DecoderBuilder(),
            builders.PreprocessorBuilder(),
        ]
        post = builders.PostprocessorBuilder()
        modalities.add_image(
            parser, *stages, post, output_feature_name="vision", is_training=False,
            num_frames=FRAMES, stride=STRIDE, num_test_clips=num_test_clips, min_resize=SIZE,
            crop_size=SIZE, zero_centering_image=True, sync_random_state=True, is_rgb=True,
        )  # fmt: skip
        features = parser.build()(example.SerializeToString())
        for stage in stages:
            features = stage.build()(features)
        features = post.build()({k: v[None] for k, v in features.items()})
        return features["vision"].numpy()

    def index_of(sampled) -> np.ndarray:
        """Which source frames a sampler picked (frames carry their index in a channel)."""
        return sampled[..., 0, 0, 0].numpy().astype(np.int64)

    tagged = tf.constant(np.arange(len(frames))[:, None, None, None] * np.ones((1, 1, 1, 3)))
    from dmvr import processors

    out = {
        "vatt_view": vatt(frames)[0],  # one clip from the middle
        "vatt_upsampled_view": vatt(frames[:, ::3, ::3])[0],  # 96 x 120 frames, enlarged
        "vatt_middle_index": index_of(processors.sample_sequence(tagged, FRAMES, False, STRIDE)),
        "vatt_linspace_index": index_of(
            processors.sample_linspace_sequence(tagged, 4, FRAMES, STRIDE)
        ).reshape(4, FRAMES),
        "mmv_view": eval_ucf101.process_samples(
            {"video": tf.constant(frames[FIRST:])},  # its one test window starts at FIRST
            num_frames=FRAMES,
            stride=STRIDE,
            is_training=False,
            min_resize=SIZE,
            crop_size=SIZE,
            num_windows=1,
        )["video"].numpy(),  # fmt: skip
        "mmv_linspace_index": index_of(
            eval_ucf101.sample_linspace_sequence(tagged, 10, FRAMES, STRIDE)
        ).reshape(10, FRAMES),
        "mmv_tiny_views": mmv_tiny_views(eval_ucf101, frames),
    }
    np.savez(work / "dmvr.npz", tensorflow=tf.__version__, **out)
    print({k: v.shape for k, v in out.items()}, "TensorFlow", tf.__version__)


def mmv_tiny_views(eval_ucf101, frames: np.ndarray) -> np.ndarray:
    """``process_samples`` (test mode, one window) at the tiny MMV record's size on each tiny
    clip's 8 source frames (its one window at stride 2 is then the clip itself):
    ``[clips, 4, 16, 16, 3]`` in [0, 1]."""
    import tensorflow as tf

    step = TINY["frames"] * STRIDE
    return np.stack([
        eval_ucf101.process_samples(
            {"video": tf.constant(frames[k * step : (k + 1) * step])}, num_frames=TINY["frames"],
            stride=STRIDE, is_training=False, min_resize=TINY["size"], crop_size=TINY["size"],
            num_windows=1,
        )["video"].numpy()
        for k in range(TINY["clips"])
    ])  # fmt: skip


def run_mmv_model(work: Path, mmv: Path) -> None:
    """The official tiny MMV S3D (``tools/official_mmv.py``'s build, the record's pickle read by
    ``mmv/utils/checkpoint.py``) in eval mode, float32, on ``process_samples``' views of the
    clips after the eval's ``space_to_depth_batch`` (re-done in numpy by that tool)."""
    sys.path[:0] = [str(mmv), str(Path(__file__).parent)]
    import official_mmv
    from mmv.utils import checkpoint

    record = ROOT / "tests" / "fixtures" / "mmv_official_s3d"
    net, _ = official_mmv.build("s3d", "tiny")
    weights = checkpoint.load_checkpoint(str(record / "mmv_s3d.pkl"))

    def video_outputs(video: np.ndarray) -> dict[str, np.ndarray]:
        words = official_mmv.SIZES["tiny"][5]
        audio = np.zeros((len(video), 24, 16, 1), np.float32)  # the eval feeds zeros, as here
        text = np.zeros((len(video), words), np.int32)
        images = official_mmv.space_to_depth(video.astype(np.float32))
        result, _ = net.apply(
            weights["params"], weights["state"], None, images, audio, text, is_training=False
        )
        return {
            "visual_pooled": np.asarray(result["vid_repr"]),
            "visual_joint": np.asarray(result["vid_embd"]["toaud"]),
        }

    parity = np.load(record / "parity.npz")  # the pickle gives the record's (float64) outputs
    check = video_outputs(parity["video"])
    for key, name in (("visual_pooled", "out_video_pooled"), ("visual_joint", "out_video_va")):
        scale = np.abs(parity[name]).max()
        relative = np.abs(check[key] - parity[name]).max() / scale
        print(f"{key}: float32 replay of the float64 record, largest difference / scale {relative}")
        assert relative <= 1e-4
    out = video_outputs(np.load(work / "dmvr.npz")["mmv_tiny_views"])
    np.savez(work / "mmv_model.npz", **out)
    print({k: v.shape for k, v in out.items()})


def run_vatt_model(work: Path, dmvr: Path, vatt: Path) -> None:
    """The official tiny VATT (``tools/official_vatt.py``'s build, the record's checkpoint) on
    the official preprocessing of each clip: DMVR's pipeline as VATT's loaders configure it, on
    the clip's 8 source frames (its middle clip at stride 2 is then the clip itself)."""
    import tensorflow as tf

    stub("dmvr.tokenizers")
    sys.path[:0] = [str(dmvr), str(vatt), str(Path(__file__).parent)]
    import official_vatt
    from dmvr import builders, modalities

    decoded = np.load(work / "decoded.npz")
    step = TINY["frames"] * STRIDE
    views = []
    for k in range(TINY["clips"]):
        example = tf.train.SequenceExample()
        encoded = example.feature_lists.feature_list["image/encoded"]
        for frame in decoded["frames"][k * step : (k + 1) * step]:
            encoded.feature.add().bytes_list.value.append(tf.io.encode_png(frame).numpy())
        parser = builders.SequenceExampleParserBuilder()
        stages = [
            builders.SamplerBuilder(),
            builders.DecoderBuilder(),
            builders.PreprocessorBuilder(),
        ]
        modalities.add_image(
            parser, *stages, builders.PostprocessorBuilder(), output_feature_name="vision",
            is_training=False, num_frames=TINY["frames"], stride=STRIDE, min_resize=TINY["size"],
            crop_size=TINY["size"], zero_centering_image=True,
        )  # fmt: skip
        features = parser.build()(example.SerializeToString())
        for stage in stages:
            features = stage.build()(features)
        views.append(features["vision"])
    inputs = {
        "video": tf.stack(views),
        "audio": tf.constant(decoded["audio"][..., None], tf.float32),
        "text": tf.zeros((TINY["clips"], official_vatt.WORDS), tf.int32),
    }
    model = official_vatt.build(tf, official_vatt.SIZES["tiny"], None, False)
    model(inputs)
    record = ROOT / "tests" / "fixtures" / "vatt_official"
    tf.train.Checkpoint(model=model).read(str(record / "ckpt-1")).expect_partial()
    parity = np.load(record / "parity.npz")  # the restored weights give the record's outputs
    check, _ = model({k: tf.constant(parity[k]) for k in ("video", "audio", "text")})
    assert np.allclose(check["video"]["features_pooled"], parity["out_video_pooled"], atol=1e-6)
    features, heads = model(inputs, training=False)
    out = {
        "visual_pooled": features["video"]["features_pooled"],
        "audio_pooled": features["audio"]["features_pooled"],
        "visual_joint": heads["video"]["toaud"],
        "audio_joint": heads["audio"]["tovid"],
    }
    np.savez(work / "vatt_model.npz", **{k: v.numpy() for k, v in out.items()})
    print({k: tuple(v.shape) for k, v in out.items()})


def run_pyslowfast(work: Path, avbert: Path) -> None:
    import torch

    stub("torchaudio")  # the audio half of data/utils.py and data/transform.py, unused here
    package = types.ModuleType("data")  # data/__init__.py registers the datasets (fvcore)
    package.__path__ = [str(avbert / "code" / "data")]
    sys.modules["data"] = package
    from data import utils

    decoded = np.load(work / "decoded.npz")
    frames = torch.from_numpy(decoded["frames"])
    fps = round(float(decoded["fps"]))
    c = AVBERT_CFG
    span = c["NUM_FRAMES"] * c["SAMPLING_RATE"] * fps / c["TARGET_FPS"]  # KineticsSounds
    index = torch.linspace(FIRST, FIRST + span - 1, c["NUM_FRAMES"])
    index = index.clamp(0, len(frames) - 1).long()
    clip = utils.temporal_sampling(frames, FIRST, FIRST + span - 1, c["NUM_FRAMES"])
    assert torch.equal(clip, frames[index])
    cfg = types.SimpleNamespace(
        DATA=types.SimpleNamespace(
            TRANSFORMATIONS=["resize_crop", "flip", "color_normalize"],
            MEAN=[0.45] * 3,
            STD=[0.225] * 3,
        )
    )
    side = c["TEST_CROP_SIZE"]
    view = utils.apply_visual_transform(  # the centre crop (spatial index 1) of the test views
        cfg, (clip.float() / 255.0).permute(0, 3, 1, 2), 1, side, side, side
    )
    np.savez(work / "pyslowfast.npz", avbert_view=view.numpy(), avbert_index=index.numpy())
    print("AVBERT view", tuple(view.shape))


def levels(official: np.ndarray, to_float) -> np.ndarray:
    """uint8 levels whose ``to_float`` is the official output bit for bit."""
    table = to_float(np.arange(256, dtype=np.uint8))
    found = np.searchsorted(table, official)
    found = np.clip(found, 0, 255).astype(np.uint8)
    if not np.array_equal(to_float(found), official):
        raise SystemExit("the official output is not a function of uint8 levels")
    return found


def report(work: Path, write: bool) -> dict:
    """avpet's evaluation transform on the decoded frames against every official output."""
    import torch

    import avpet
    from avpet.data import clips, create_transform, resolve_data_config
    from avpet.models import mmv_official, vatt

    decoded = np.load(work / "decoded.npz")
    dmvr, psf = np.load(work / "dmvr.npz"), np.load(work / "pyslowfast.npz")
    frames = torch.from_numpy(decoded["frames"])
    times, fps = decoded["times"], float(decoded["fps"])
    dmvr_float = lambda k: k.astype(np.float32) * np.float32(2 / 255) - 1  # noqa: E731
    official = {  # case: (input spec, source frames, official view, its uint8 levels -> floats)
        "vatt": (vatt.PAPER_INPUT, frames, dmvr["vatt_view"], dmvr_float),
        "vatt_upsampled": (
            vatt.PAPER_INPUT,
            frames[:, ::3, ::3],
            dmvr["vatt_upsampled_view"],
            dmvr_float,
        ),
        "mmv": (
            mmv_official.OFFICIAL_INPUT,
            frames,
            dmvr["mmv_view"],
            lambda k: k.astype(np.float32) / np.float32(255),
        ),
        "avbert": (
            avpet.get_pretrained_cfg("avpet_mid_lowrank").input,
            frames,
            psf["avbert_view"].transpose(0, 2, 3, 1),
            lambda k: (
                (k.astype(np.float32) / np.float32(255) - np.float32(0.45)) / np.float32(0.225)
            ),
        ),
    }
    result, fixture = {}, {"times": times, "fps": np.float64(fps)}
    assert dmvr["vatt_middle_index"][0] == FIRST
    fixture["first"] = np.int64(FIRST)
    fixture["source"] = decoded["frames"][FIRST]  # every view's first frame
    for case, (spec, source, view, to_float) in official.items():
        transform = create_transform(resolve_data_config(spec))
        index = clips.clip_frames(times, float(times[FIRST]), spec, fps)
        geometry = transform.geometry("clip", source.shape[1], source.shape[2])
        ours = transform.visual(source[index], geometry).permute(1, 2, 3, 0).numpy()
        diff = np.abs(ours - view)
        step = float(np.diff(np.unique(view)).min())
        result[case] = {
            "frame_index_equal": index == _index(case, dmvr, psf).tolist(),
            "max_abs": float(diff.max()),
            "values_off_by_one_level": float((diff > step / 2).mean()),
        }
        fixture[f"{case}_levels"] = levels(view[0], to_float)
        fixture[f"{case}_index"] = _index(case, dmvr, psf)
    for case in ("vatt", "mmv"):
        spec = official[case][0]
        windows = dmvr[f"{case}_linspace_index"]  # test windows: linearly spaced first frames
        ours = [clips.clip_frames(times, float(times[w[0]]), spec, fps) for w in windows]
        result[case]["test_windows_equal"] = ours == windows.tolist()
        fixture[f"{case}_linspace_index"] = windows
    if (work / "vatt_model.npz").exists():
        result["vatt_tiny_extract"] = extract_tiny_vatt(work, write)
    if (work / "mmv_model.npz").exists():
        result["mmv_tiny_extract"] = extract_tiny_mmv(work, write)
    result["tensorflow"] = str(dmvr["tensorflow"])
    result["torch"] = torch.__version__
    if write:
        np.savez_compressed(FIXTURE, **fixture)
        print(f"wrote {FIXTURE.relative_to(ROOT)} ({FIXTURE.stat().st_size:,} bytes)")
    return result


def extract_tiny_vatt(work: Path, write: bool) -> dict[str, float]:
    """``avpet convert-official vatt`` of the tiny record, then ``avpet extract`` of the sample
    clip with it: largest difference from the official model on the official preprocessing."""
    from dataclasses import replace

    from avpet.convert import vatt as convert
    from avpet.models import vatt

    record = ROOT / "tests" / "fixtures" / "vatt_official"
    spec = replace(
        vatt.PAPER_INPUT,
        frames=TINY["frames"],
        size=TINY["size"],
        test_size=TINY["size"],
        sample_rate=TINY["sample_rate"],
        audio_seconds=TINY["samples"] / TINY["sample_rate"],
    )
    return _through_avpet(
        "vatt", record / "ckpt-1", convert, vatt, vatt.VATT, spec, vatt.LICENSE, work, write
    )


def extract_tiny_mmv(work: Path, write: bool) -> dict[str, float]:
    """``avpet convert-official mmv`` of the tiny S3D record, then ``avpet extract`` of the sample
    clip with it (fed as ``OFFICIAL_INPUT`` feeds the released sizes): largest difference of the
    visual features from the official model on ``process_samples``' views."""
    from dataclasses import replace

    from avpet.convert import mmv as convert
    from avpet.models import mmv_official

    record = ROOT / "tests" / "fixtures" / "mmv_official_s3d"
    spec = replace(
        mmv_official.OFFICIAL_INPUT,
        frames=TINY["frames"],
        size=TINY["size"],
        test_size=TINY["size"],
        sample_rate=16000,  # the record's audio network: 24 frames of 16 log-mel bins
        n_mels=16,
        mel_frames=24,
    )
    model_cls, licence = mmv_official.MMVOfficial, mmv_official.LICENSE
    return _through_avpet(
        "mmv", record / "mmv_s3d.pkl", convert, mmv_official, model_cls, spec, licence, work, write
    )


def _through_avpet(
    family, checkpoint, convert, module, model_cls, spec, licence, work: Path, write: bool
) -> dict[str, float]:
    """Register the record's tiny architecture (``module.VARIANTS``), convert ``checkpoint`` with
    ``avpet convert-official FAMILY``, extract the sample clip with it, and compare with the
    official model's outputs (``WORK/<family>_model.npz``, copied beside the record with
    ``write``)."""
    import avpet
    from avpet.cli import main
    from avpet.config import PretrainedCfg
    from avpet.registry import register_models

    cfg = convert.infer_cfg(convert.load_official(checkpoint))
    variant = {f"{family}_fixture_tiny": (cfg, PretrainedCfg(input=spec, license=licence))}
    module.VARIANTS.update(variant)
    register_models(model_cls, variant)
    repo, out = work / f"{family}_tiny_repo", work / f"{family}_tiny_features"
    shutil.rmtree(repo, ignore_errors=True)  # convert-official never writes over a folder
    assert main(["convert-official", family, str(checkpoint), "--out", str(repo)]) == 0
    model = ["--model", f"local-dir:{repo}", "--pretrained", "--backend", "pyav"]
    assert main(["extract", str(CLIP), *model, "--out", str(out), "--overwrite"]) == 0
    ours = avpet.read_features(out / f"{CLIP.name}.safetensors").features
    official = dict(np.load(work / f"{family}_model.npz"))
    if write:
        np.savez(checkpoint.parent / "sample_clip.npz", **official)
    clips = TINY["clips"]
    return {k: float(np.abs(ours[k][:clips].numpy() - v).max()) for k, v in official.items()}


def _index(case: str, dmvr, psf) -> np.ndarray:
    """Source frames of the official view that starts at FIRST."""
    if case.startswith("vatt"):
        return dmvr["vatt_middle_index"]
    if case == "mmv":
        return FIRST + np.arange(FRAMES) * STRIDE  # process_samples got frames[FIRST:]
    return psf["avbert_index"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = ("decode", "dmvr", "vatt-model", "mmv-model", "pyslowfast", "report")
    parser.add_argument("step", choices=steps)
    parser.add_argument("--work", type=Path, required=True, help="folder for the steps' files")
    parser.add_argument("--dmvr", type=Path, help="checkout of google-deepmind/dmvr")
    parser.add_argument("--mmv", type=Path, help="checkout of deepmind-research (holds mmv/)")
    parser.add_argument("--avbert", type=Path, help="checkout of sangho-vision/avbert")
    parser.add_argument("--vatt", type=Path, help="folder holding google-research's vatt/")
    parser.add_argument("--write", action="store_true", help="store the fixture")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.step == "decode":
        decode(args.work)
    elif args.step == "dmvr":
        run_dmvr(args.work, args.dmvr, args.mmv)
    elif args.step == "vatt-model":
        run_vatt_model(args.work, args.dmvr, args.vatt)
    elif args.step == "mmv-model":
        run_mmv_model(args.work, args.mmv)
    elif args.step == "pyslowfast":
        run_pyslowfast(args.work, args.avbert)
    else:
        print(json.dumps(report(args.work, args.write), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

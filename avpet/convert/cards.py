"""What a converted repo's model card must tell its user: where the weights come from, their
licence, the preprocessing they expect, and the numbers the authors reported — quoted, not
re-measured here (the real checkpoints cannot be downloaded on the machines this was built on)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import OfficialSource

# the public objects' download root (``gs://tf_model_garden/...`` and ``gs://deepmind-research-mmv``
# read over HTTPS); ``AVPET_OFFICIAL_ENDPOINT`` replaces it with a mirror (avpet.hub.official)
OFFICIAL_ENDPOINT = "https://storage.googleapis.com"
VATT_ROOT = "tf_model_garden/vision/vatt/"
MMV_ROOT = "deepmind-research-mmv/"

NOT_REMEASURED = (
    "These are the authors' reported numbers, quoted from their release; this repository did "
    "not re-measure them."
)


@dataclass(frozen=True)
class OfficialCard:
    """Card text for one converted official checkpoint, and the files it is converted from
    (paths under :data:`OFFICIAL_ENDPOINT`; see :attr:`official`)."""

    title: str
    source: str
    licence: str
    preprocessing: str
    reported: str
    training_data: str
    family: str = ""
    files: tuple[str, ...] = ()

    @property
    def official(self) -> OfficialSource:
        """Where ``pretrained=True`` downloads this checkpoint from, and its licence."""
        return OfficialSource(family=self.family, license=self.licence, files=self.files)

    @property
    def description(self) -> str:
        return "\n\n".join(
            [
                f"{self.title}, converted from the authors' official release by "
                f"`avpet convert-official` (no framework of theirs needed).",
                f"**Source:** {self.source}",
                f"**Licence of the weights:** {self.licence}",
                f"**Expected preprocessing:** {self.preprocessing}",
                f"**Reported results:** {self.reported} {NOT_REMEASURED}",
            ]
        )


VATT_SOURCE = (
    "google-research `vatt/` (https://github.com/google-research/google-research/tree/master/"
    f"vatt), checkpoints under {OFFICIAL_ENDPOINT}/{VATT_ROOT}"
)
VATT_LICENCE = (
    "Apache-2.0 (the google-research repository's licence, which the release falls under)."
)
VATT_VIDEO = (
    "32 RGB frames at 12.5 fps (stride 2 of the 25-fps sources: `video_stride` 2 of "
    "`configs/dataset.py`), the shorter side resized to 224 by DMVR's `resize_smallest` "
    "(TensorFlow bilinear, cast back to uint8) and a 224×224 centre crop, pixels scaled to "
    "[-1, 1] (`zero_centering_image=True`: DMVR's `normalize_image` gives x·2/255 − 1), "
    "`[B, 3, 32, 224, 224]`; avpet's input spec does all of this (docs/hub.md cites each line; "
    "exactly this size: for smaller clips the official code interpolates its position tables, "
    "avpet does not). The official test averages 4 clips (VATT's evaluation) or 4 clips × 3 "
    "crops (the fine-tuned classifiers): `avpet extract` gives per-clip features of the centre "
    "crop"
)
VATT_AUDIO = (
    "mono 48 kHz raw waveform as stored (no normalisation), 153,600 samples (`num_frames / "
    "REF_FPS` = 3.2 s beside the 2.56 s of video), `[B, 153600]`"
)
VATT_AUDIOSET = (
    "mono waveform, 153,600 samples taken at stride 2 from 48 kHz audio (`audio_stride` 2 of "
    "the fine-tuning config): 6.4 s at 24 kHz, `[B, 153600]`; avpet resamples to 24 kHz "
    "(low-pass filtered, where the official loader drops every second sample)"
)
VATT_TEXT = (
    "16 word ids from VATT's 2^16-word vocabulary (`misc_data.tgz` of the official README; "
    "0 = padding), `[B, 16]`"
)
VATT_PRETRAIN_DATA = "Pretrained by the authors on HowTo100M and AudioSet (self-supervised)."


def _bundle(prefix: str) -> tuple[str, ...]:
    """The two files of a released TensorBundle checkpoint ``PREFIX`` (index first)."""
    return (f"{VATT_ROOT}{prefix}.index", f"{VATT_ROOT}{prefix}.data-00000-of-00001")


def _vatt_pretrained(size: str, folder: str, reported: str) -> OfficialCard:
    return OfficialCard(
        title=f"VATT {size} (video-audio-text pretraining model, FAC joint spaces)",
        source=f"{VATT_SOURCE}pretrain/{folder}/ckpt-500000",
        licence=VATT_LICENCE,
        preprocessing=f"video {VATT_VIDEO}; audio {VATT_AUDIO}; text {VATT_TEXT}.",
        reported=reported,
        training_data=VATT_PRETRAIN_DATA,
        family="vatt",
        files=_bundle(f"pretrain/{folder}/ckpt-500000"),
    )


# the fine-tuned checkpoints' training step, as the official README's links name them
_STEPS = {"mit": 150000, "audioset": 50000, "vatt_medium_k600": 90000}


def _vatt_finetuned(name: str, reported: str) -> OfficialCard:
    """Card of the released classifier ``vatt_{size}_{dataset}`` (``FINETUNED`` in the model)."""
    from ..models.vatt import DATASET_NAMES, FINETUNED

    size, dataset = name[len("vatt_") :].rsplit("_", 1)
    modality, _, agnostic, _ = FINETUNED[size]
    width = size.split("_")[-1]
    net = ("WaT" if modality == "audio" else "ViT") + f"-{width.capitalize()}"
    origin = " (from the modality-agnostic model)" if agnostic else ""
    what = f"{net}{origin} fine-tuned on {DATASET_NAMES[dataset]}"
    path = (
        f"{'wat' if modality == 'audio' else 'vit'}_{width}/{dataset}_modality_"
        f"{'agnostic' if agnostic else 'specific'}_pretrain"
    )
    step = _STEPS.get(name, _STEPS.get(dataset, 100000))
    return OfficialCard(
        title=f"VATT {what}",
        source=f"{VATT_SOURCE}finetune/{path}/ckpt-{step}",
        licence=VATT_LICENCE,
        preprocessing=f"audio {VATT_AUDIOSET}." if modality == "audio" else f"video {VATT_VIDEO}.",
        reported=f"{reported} (official README).",
        training_data=f"{VATT_PRETRAIN_DATA} Then fine-tuned by the authors ({what}).",
        family="vatt",
        files=_bundle(f"finetune/{path}/ckpt-{step}"),
    )


# the official README's tables: top-1 / top-5 for video, mAP / AUC / d-prime for AudioSet
_REPORTED = {
    "vatt_base_k400": "top-1 79.6, top-5 94.9",
    "vatt_medium_k400": "top-1 81.1, top-5 95.6",
    "vatt_large_k400": "top-1 82.1, top-5 95.5",
    "vatt_ma_medium_k400": "top-1 79.9, top-5 94.9",
    "vatt_base_k600": "top-1 80.5, top-5 95.5",
    "vatt_medium_k600": "top-1 82.4, top-5 96.1",
    "vatt_large_k600": "top-1 83.6, top-5 96.6",
    "vatt_ma_medium_k600": "top-1 80.8, top-5 95.5",
    "vatt_large_k700": "top-1 72.7, top-5 90.5",
    "vatt_base_mit": "top-1 38.7, top-5 67.5",
    "vatt_medium_mit": "top-1 39.5, top-5 68.2",
    "vatt_large_mit": "top-1 41.1, top-5 67.7",
    "vatt_ma_medium_mit": "top-1 37.8, top-5 65.9",
    "vatt_audio_base_audioset": "mAP 39.4, AUC 97.1, d-prime 2.895",
    "vatt_ma_audio_medium_audioset": "mAP 39.3, AUC 97.0, d-prime 2.884",
}

VATT_CARDS: dict[str, OfficialCard] = {
    "vatt_bbs": _vatt_pretrained(
        "BBS",
        "tx_fac_bbs",
        "fine-tuned from it, ViT-Base: Kinetics-400 top-1 79.6, Kinetics-600 80.5, "
        "Moments in Time 38.7; WaT-Base AudioSet mAP 39.4 (official README).",
    ),
    "vatt_mbs": _vatt_pretrained(
        "MBS",
        "tx_fac_mbs",
        "fine-tuned from it, ViT-Medium: Kinetics-400 top-1 81.1, Kinetics-600 82.4, "
        "Moments in Time 39.5 (official README).",
    ),
    "vatt_lbs": _vatt_pretrained(
        "LBS",
        "tx_fac_lbs",
        "fine-tuned from it, ViT-Large: Kinetics-400 top-1 82.1, Kinetics-600 83.6, "
        "Kinetics-700 72.7, Moments in Time 41.1 (official README).",
    ),
    "vatt_ma_medium": _vatt_pretrained(
        "MA-Medium (one modality-agnostic Transformer)",
        "ut_fac_medium",
        "fine-tuned from it, ViT-Medium: Kinetics-400 top-1 79.9, Kinetics-600 80.8, "
        "Moments in Time 37.8; WaT-Medium AudioSet mAP 39.3 (official README).",
    ),
} | {name: _vatt_finetuned(name, reported) for name, reported in _REPORTED.items()}


MMV_SOURCE = (
    "deepmind-research `mmv/` (https://github.com/google-deepmind/deepmind-research/tree/master/"
    f"mmv), checkpoints under {OFFICIAL_ENDPOINT}/{MMV_ROOT}"
)
MMV_LICENCE = (
    "**CC BY-NC 4.0 — non-commercial use only** (Creative Commons Attribution-NonCommercial 4.0 "
    "International, https://creativecommons.org/licenses/by-nc/4.0/legalcode; the official README: "
    "the code is Apache-2.0, the checkpoint weights are not). Any use of these converted weights "
    "is bound by it."
)
MMV_PREPROCESSING = (
    "video: RGB clips `[B, 3, 32, 224, 224]` as the official evaluation (`mmv/eval_ucf101.py`, "
    "`process_samples` with its `main`'s flags) makes them: 32 frames at stride 2 of videos "
    "decoded at 25 fps (12.5 fps), the shorter side resized to 224 (TensorFlow bilinear, cast "
    "back to uint8), a 224×224 centre crop, pixels / 255 in [0, 1] with no mean/std "
    "normalisation; avpet's input spec does all of this (docs/hub.md cites each line; T, H, W "
    "even for S3D, whose space-to-depth input avpet forms itself). The official test averages "
    "10 linearly spaced clips: `avpet extract` gives per-clip features. Audio: no official data "
    "code computes it — the released Haiku networks read a spectrogram (`[B, frames, bins, 1]`; "
    "the official eval feeds zeros `[B, 96, 40, 1]`), the TF-Hub models compute theirs in the "
    "graph from 153,600 samples of 48 kHz audio in [-1, 1] with settings not published in the "
    "code; avpet feeds its own 80 × 320 log-mel of 3.2 s at 48 kHz, which is NOT verified to "
    "equal the authors' (the audio network is fully convolutional and takes any size), so audio "
    "features of these weights are not the authors'. Text: word ids `[B, L]` into the authors' "
    "65,536-word word2vec vocabulary (0 = padding, which enters the max-pool as in the official "
    "code)."
)
MMV_TRAINING = (
    "Pretrained by the authors, self-supervised, on AudioSet and HowTo100M (video, audio and "
    "narration text)."
)


def _mmv(backbone: str, checkpoint: str, ucf101: str) -> OfficialCard:
    return OfficialCard(
        title=f"MMV FAC with the {backbone} video network (Alayrac et al., NeurIPS 2020)",
        source=f"{MMV_SOURCE}{checkpoint}",
        licence=MMV_LICENCE,
        preprocessing=MMV_PREPROCESSING,
        reported=f"linear classification on UCF101: {ucf101} % top-1 (official README).",
        training_data=MMV_TRAINING,
        family="mmv",
        files=(f"{MMV_ROOT}{checkpoint}",),
    )


MMV_GENERIC = OfficialCard(
    title="MMV (Alayrac et al., NeurIPS 2020)",
    source=MMV_SOURCE,
    licence=MMV_LICENCE,
    preprocessing=MMV_PREPROCESSING,
    reported="see the official README for the released checkpoints' UCF101 results.",
    training_data=MMV_TRAINING,
)  # an MMV pickle whose architecture is not one of the released three
MMV_CARDS: dict[str, OfficialCard] = {
    "mmv_s3d_fac": _mmv("S3D-G", "mmv_s3d.pkl", "89.6"),
    "mmv_tsm_resnet50_fac": _mmv("TSM-ResNet50", "mmv_tsm_resnet_x1.pkl", "91.5"),
    "mmv_tsm_resnet50x2_fac": _mmv("TSM-ResNet50x2", "mmv_tsm_resnet_x2.pkl", "91.8"),
}

# The official checkpoint of each registered model, the one table ``pretrained=True`` reads
# (registered as the tag ``official`` by :mod:`avpet.models`). AVBERT's is not public: the
# authors share it through a Google Drive link in their README.
AVBERT_OFFICIAL = OfficialSource(
    family="avbert",
    license="not stated by the authors (the official repository names no licence)",
    manual=(
        "the official AVBERT checkpoint has no public download URL: get the .pyth file through "
        "the Google Drive link in https://github.com/sangho-vision/avbert (README), then run "
        "`avpet convert-official avbert FILE --out DIR` and load it with "
        "pretrained='local-dir:DIR'"
    ),
)
LICENSE_IDS = {"avbert": "other", "vatt": "apache-2.0", "mmv": "cc-by-nc-4.0"}  # Hub metadata ids
OFFICIAL: dict[str, OfficialSource] = {
    "avpet_mid_lowrank": AVBERT_OFFICIAL,
    **{name: card.official for name, card in {**VATT_CARDS, **MMV_CARDS}.items()},
}

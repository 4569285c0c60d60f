"""Fine-tune a classifier on your own labelled folder (``ROOT/CLASS/VIDEO``).

    python examples/finetune.py ROOT --steps 3                # tiny run, random init
    python examples/finetune.py ROOT --model avpet_mid_lowrank --pretrained --steps 2000 \
        --lr 1e-4 --out finetuned/

``create_model(NAME, num_classes=K)``, or ``model.reset_classifier(K)`` after loading headless
pretrained weights, adds the classification heads (visual, audio and multimodal on the BOS
summaries; the model picks the one matching the inputs). Training uses the
training transform (random clip starts, crops, flips, SpecAugment) and AdamW on cross-entropy.
Afterwards ``reset_classifier(0)`` drops the heads so the fine-tuned backbone serves as a feature
extractor, and ``--out`` saves it as a hub folder (``pretrained="local-dir:OUT"``).
"""

from __future__ import annotations

import argparse
import itertools
import json

import torch
from labelled_folder import LabelledVideos, find_labelled_videos
from torch.utils.data import DataLoader

import avpet
from avpet.data import create_transform, resolve_data_config
from avpet.hub import save_pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="folder with one sub-folder of videos per class")
    parser.add_argument("--model", default="avpet_small_mid_lowrank", help="model name")
    parser.add_argument(
        "--pretrained", default=None, help="weights: hf-hub:ORG/REPO, local-dir:DIR or a file"
    )
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=4, help="videos per step")
    parser.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate")
    parser.add_argument("--workers", type=int, default=0, help="decoding worker processes")
    parser.add_argument("--out", help="save the fine-tuned backbone (no heads) to this folder")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args()

    items, classes = find_labelled_videos(args.root)
    torch.manual_seed(0)
    if args.pretrained:  # the weights are headless: load them, then add fresh heads
        model = avpet.create_model(args.model, pretrained=args.pretrained)
        model.reset_classifier(len(classes))
    else:
        model = avpet.create_model(args.model, num_classes=len(classes))
    transform = create_transform(resolve_data_config(model), is_training=True)
    loader = DataLoader(
        LabelledVideos(items, transform),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        drop_last=len(items) >= args.batch_size,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    model.train()
    losses = []
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    for step, batch in zip(range(1, args.steps + 1), batches, strict=False):
        logits = model(visual=batch["visual"], audio=batch["audio"])  # [B, K]
        loss = torch.nn.functional.cross_entropy(logits, batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        accuracy = (logits.argmax(-1) == batch["label"]).float().mean().item()
        print(f"step {step}: loss {loss.item():.4f}, batch accuracy {accuracy:.2f}")

    changed = sum(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.reset_classifier(0)  # heads off: the backbone now returns pooled features
    model.eval()
    with torch.inference_mode():
        pooled = model(visual=batch["visual"], audio=batch["audio"])
    print(f"after reset_classifier(0) the model returns features {list(pooled.shape)}")
    if args.out:
        save_pretrained(model, args.out)
        print(f"saved the fine-tuned backbone to {args.out}")
    result = {"classes": classes, "losses": losses, "tensors_changed": changed}
    print(json.dumps(result) if args.json else f"losses {losses}, {changed} tensors changed")


if __name__ == "__main__":
    main()

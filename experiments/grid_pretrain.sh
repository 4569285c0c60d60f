#!/usr/bin/env bash
# Reproduces hub/avpet_small_mid_lowrank.grid_s1: split GRID s1 (the evaluation's hash split),
# decode the training clips once (4 augmented views each, mouth crop), pretrain with MEP + CPP +
# AVC on the CNN tokens (configs/grid_small.json), evaluate the frozen features and a random-init
# network of the same seed at the levels chosen on the training split (--level select), and
# (seed 0 only) publish. Run from the repository root; SEED=1 for another seed.
set -euo pipefail
data="${AVPET_DATA:-../shared/data}"
seed="${SEED:-0}"
run="runs/grid_small_3k_s$seed"
python experiments/grid_split.py "$data/grid_s1" --split 0.8 --out runs/grid_s1
[ -f runs/grid_s1/train_views4.safetensors ] ||
    avpet cache runs/grid_s1/train.csv --model avpet_small_mid_lowrank \
        --roi 150 246 118 214 --views 4 --num-workers 2 --out runs/grid_s1/train_views4.safetensors
start=$(date +%s)
avpet pretrain configs/grid_small.json train.seed="$seed" train.out_dir="$run"
echo "pretraining: $(( ($(date +%s) - start) / 60 )) min" | tee "$run/pretrain_minutes.txt"
bash experiments/grid_eval.sh avpet_small_mid_lowrank "$run" "$seed"
[ "$seed" = 0 ] || exit 0
python tools/publish.py avpet_small_mid_lowrank.grid_s1 --weights "local-dir:$run/final" \
    --metrics "$run/eval_grid.json" "$run/eval_fsdd.json" \
    --training-data "self-supervised MEP + CPP + AVC (on the CNN tokens, tau 0.07) on the 713 training clips of GRID s1 (hash split 0.8), 3000 steps of batch 32 in bf16 on a 2-core CPU (configs/grid_small.json, seed $seed)"

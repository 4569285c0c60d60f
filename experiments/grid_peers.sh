#!/usr/bin/env bash
# The peers at the budget of hub/avpet_small_mid_lowrank.grid_s1 (experiments/grid_pretrain.sh): VATT
# (vatt_small) and MMV (mmv_small_tsm_fac) trained by the same loop on the same 713 training clips,
# 4 augmented views of sequences of 4 clips each (their own input spec: mean 0 / std 1 RGB, VATT's
# waveform, MMV's 64-bin log-mel), 1000 steps of 32 sequences (128 contrasted clips) in bf16
# (configs/grid_vatt_small.json, configs/grid_mmv_small.json), then evaluated like AVBERT together
# with a random-init network of the same seed (experiments/grid_eval.sh). Run from the repository
# root; SEED=1 for another seed.
set -euo pipefail
data="${AVPET_DATA:-../shared/data}"
seed="${SEED:-0}"
python experiments/grid_split.py "$data/grid_s1" --split 0.8 --out runs/grid_s1
for peer in vatt_small:vatt_small mmv_small:mmv_small_tsm_fac; do
    short="${peer%%:*}" model="${peer#*:}"
    run="runs/grid_${short}_s$seed"
    clips="runs/grid_s1/train_views4_$short.safetensors"
    [ -f "$clips" ] ||
        avpet cache runs/grid_s1/train.csv --model "$model" --num-clips 4 \
            --roi 150 246 118 214 --views 4 --num-workers 2 --out "$clips"
    start=$(date +%s)
    avpet pretrain "configs/grid_$short.json" train.seed="$seed" train.out_dir="$run"
    echo "pretraining: $(( ($(date +%s) - start) / 60 )) min" | tee "$run/pretrain_minutes.txt"
    bash experiments/grid_eval.sh "$model" "$run" "$seed"
done

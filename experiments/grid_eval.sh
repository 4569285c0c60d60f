#!/usr/bin/env bash
# Evaluates one pretrained run the way docs/results.md reports it: GRID probes and retrieval of
# RUN/final and of a random-init network of the same seed, and FSDD leave-one-speaker-out, all at
# the levels chosen on the training split (--level select), written to RUN/eval_grid.json,
# RUN/eval_grid_random.json and RUN/eval_fsdd.json (each replaced only once its evaluation has
# succeeded). Usage: grid_eval.sh MODEL RUN SEED.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: experiments/grid_eval.sh MODEL RUN SEED" >&2; exit 2; }
model="$1" run="$2" seed="$3"
[ -d "$run/final" ] || { echo "experiments/grid_eval.sh: $run/final: no exported weights" >&2; exit 1; }
data="${AVPET_DATA:-../shared/data}"
common=(--data "$data/grid_s1" --split 0.8 --seed "$seed" --cache runs/eval_cache --level select --json)

# write_json FILE COMMAND...: COMMAND's output into FILE, which is left as it was if COMMAND fails
write_json() {
    local out="$1"
    shift
    "$@" > "$out.partial"
    mv "$out.partial" "$out"
}
write_json "$run/eval_grid.json" \
    avpet eval grid --model "$model" --pretrained "local-dir:$run/final" "${common[@]}"
write_json "$run/eval_grid_random.json" \
    avpet eval grid --model "$model" --roi 150 246 118 214 "${common[@]}"
write_json "$run/eval_fsdd.json" avpet eval fsdd --model "$model" \
    --pretrained "local-dir:$run/final" --data "$data/fsdd" --seed "$seed" --level select --json

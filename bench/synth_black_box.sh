#!/usr/bin/env bash
# The synthetic black-box benchmark's fixed part, done once and reused by the
# other bench scripts (each step is skipped when its output exists):
#   1. the two synthetic domains (data/synth, 320x160, 600 train + 100 val each);
#   2. the source model: LR-ASPP MobileNetV3-Small trained on the labelled source
#      domain (configs/synth_source_only.yaml, 2500 iterations);
#   3. exported as TorchScript: the black box (runs/synth_black_box.pt);
#   4. asked once per target training image: the prediction store runs/synth_store;
#   5. the black box evaluated on target val (runs/synth_black_box.json).
# Prints the store's bytes per image against float16 full probabilities.
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${SEGTRANSFER:-build/segtransfer}

[ -d data/synth/target ] || $ST synth -o data/synth --size 320x160 --source-train 600 --source-val 100 \
  --target-train 600 --target-val 100
[ -f runs/synth_source_only/model.pt ] || $ST train -c configs/synth_source_only.yaml --resume
[ -f runs/synth_black_box.pt ] || $ST export --run runs/synth_source_only -o runs/synth_black_box.pt --size 320x160
$ST query -c configs/synth_query.yaml
[ -f runs/synth_black_box.json ] || $ST eval --run runs/synth_source_only --json runs/synth_black_box.json

images=$(ls runs/synth_store/*.topk | wc -l)
bytes=$(du -cb runs/synth_store/*.topk | tail -1 | cut -f1)
# float16 probabilities of 19 classes at 320x160, as a .npy per image: 19 * 320 * 160 * 2 bytes + 128 header.
full=$(( 19 * 320 * 160 * 2 + 128 ))
awk -v b="$bytes" -v n="$images" -v f="$full" 'BEGIN {
  printf "store: %d entries, %.1f KB per image; float16 full probabilities: %.1f KB per image (store = 1/%.1f)\n",
         n, b / n / 1e3, f / 1e3, f / (b / n) }'

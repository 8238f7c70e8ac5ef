#!/usr/bin/env bash
# Short source-free runs for diagnosing self-training from the Cityscapes ESPNet on CamVid
# (issue 19): ITERS iterations of configs/camvid/espnet_city.yaml with extra --set
# overrides, scored on the first 30 val images (the val labels choose settings here, and
# docs/benchmarks.md says so). Prints the run's val mIoU.
#   bash bench/camvid_sourcefree_diagnostics.sh NAME [--set key=value ...]
#   ITERS (default 100)  OUT (default runs/camvid_diagnostics)  SEGTRANSFER (default build/segtransfer)
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
shift
ST=${SEGTRANSFER:-build/segtransfer}
OUT=${OUT:-runs/camvid_diagnostics}
ITERS=${ITERS:-100}
mkdir -p "$OUT" data
[ -e data/camvid ] || ln -s "$(cd "${DATA:-../shared/data/camvid}" && pwd)" data/camvid
ls data/camvid/val | head -30 | sed 's/\.png$//' > "$OUT/val30.txt"
rm -rf "${OUT:?}/$name"
$ST train -c configs/camvid/espnet_city.yaml --set train.iterations="$ITERS" --set train.time_budget_min=0 \
  --set train.eval_every=1000000 --set train.checkpoint_every=1000000 --set data.val.list="$(realpath "$OUT")/val30.txt" \
  --set output="$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
echo "$name ($*): $(grep 'val mIoU' "$OUT/$name.log" | tail -1)"

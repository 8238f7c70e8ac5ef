#!/usr/bin/env bash
# Target mIoU reached at fixed wall-clock budgets: each method trains the same
# student for BUDGETS minutes of training-loop time (train.time_budget_min; the
# schedules follow the spent share of the budget), one run at a time with every
# core, on the synthetic benchmark of bench/synth_black_box.sh. Prints one table
# per budget and writes runs/quality_per_minute/curve.png (mIoU against minutes).
#   BUDGETS (default "5 20 60")  SEEDS (default "0")  METHODS (default below)
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${SEGTRANSFER:-build/segtransfer}
BUDGETS=${BUDGETS:-"5 20 60"}
SEEDS=${SEEDS:-0}
METHODS=${METHODS:-"plain_distill soft_distill corte"}
OUT=${OUT:-runs/quality_per_minute}
bash bench/synth_black_box.sh >/dev/null
mkdir -p "$OUT"

for budget in $BUDGETS; do
  for method in $METHODS; do
    for seed in $SEEDS; do
      run=$OUT/${method}_${budget}min_s$seed
      [ -f "$run/metrics.json" ] && continue
      echo "quality_per_minute: $method, $budget min, seed $seed"
      $ST train -c configs/synth_corte.yaml --resume --set method="$method" --set output="$run" \
        --set train.seed="$seed" --set train.time_budget_min="$budget" --set train.iterations=1000000 \
        --set train.checkpoint_every=500 > "$run.log" 2>&1 || { echo "FAILED $run (see $run.log)"; exit 1; }
    done
  done
done

for budget in $BUDGETS; do
  rows=()
  for method in $METHODS; do
    runs=$(for seed in $SEEDS; do printf '%s,' "$OUT/${method}_${budget}min_s$seed"; done)
    rows+=("$method=${runs%,}")
  done
  echo "### $budget minutes of training"
  $ST compare "${rows[@]}" -o "$OUT/table_${budget}min.md"
  echo
done

# mIoU against minutes: one line per method, one point per budget (seeds averaged).
lines=()
for method in $METHODS; do
  points=()
  for budget in $BUDGETS; do
    point=$(for seed in $SEEDS; do printf '%s+' "$OUT/${method}_${budget}min_s$seed"; done)
    points+=("${point%+}")
  done
  lines+=("$method=$(IFS=,; echo "${points[*]}")")
done
$ST curve "${lines[@]}" --title "target val mIoU at fixed CPU budgets" -o "$OUT/curve.png"
echo "quality_per_minute: wrote $OUT/curve.png"

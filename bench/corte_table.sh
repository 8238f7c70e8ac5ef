#!/usr/bin/env bash
# The black-box distillation table of docs/benchmarks.md: every method and every
# CoRTe ablation, same student, same iterations, seeds 0 1 2, on the synthetic
# benchmark prepared by bench/synth_black_box.sh. Finished runs are reused
# (delete runs/corte_table to start over); an interrupted run resumes.
#   ITERATIONS (default 2500)  JOBS: runs side by side (default 1; with 2, each gets 1 thread)
#   SEEDS (default "0 1 2")  ONLY: run only these variants (names below); the table lists what is finished
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${SEGTRANSFER:-build/segtransfer}
ITERATIONS=${ITERATIONS:-2500}
JOBS=${JOBS:-1}
SEEDS=${SEEDS:-"0 1 2"}
OUT=${OUT:-runs/corte_table}
THREADS=$(( $(nproc) / JOBS ))
bash bench/synth_black_box.sh >/dev/null

# name|extra --set overrides (none = the method's defaults)
VARIANTS=(
  "plain_distill|method=plain_distill"
  "soft_distill|method=soft_distill"
  "threshold_distill|method=threshold_distill"
  "corte|method=corte"
  "corte_absolute|method=corte corte.pseudo_labels=absolute"
  "corte_global|method=corte corte.thresholds=global"
  "corte_no_refine|method=corte corte.refine=false"
  "corte_no_mix|method=corte corte.mix=false"
)

jobs_file=$(mktemp)
for variant in "${VARIANTS[@]}"; do
  name=${variant%%|*}
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
  for seed in $SEEDS; do
    run=$OUT/${name}_s$seed
    [ -f "$run/metrics.json" ] && continue
    sets="output=$run train.seed=$seed train.iterations=$ITERATIONS train.threads=$THREADS ${variant#*|}"
    echo "$ST train -c configs/synth_corte.yaml --resume $(printf -- '--set %s ' $sets) > $run.log 2>&1 || echo FAILED $run" >> "$jobs_file"
  done
done
mkdir -p "$OUT"
echo "corte_table: $(wc -l < "$jobs_file") runs to do, $JOBS at a time"
xargs -P "$JOBS" -I{} bash -c {} < "$jobs_file"
rm -f "$jobs_file"

rows=("black box=runs/synth_black_box.json")
for variant in "${VARIANTS[@]}"; do
  name=${variant%%|*}
  runs=$(for seed in $SEEDS; do [ -f "$OUT/${name}_s$seed/metrics.json" ] && printf '%s,' "$OUT/${name}_s$seed"; done)
  [ -n "$runs" ] && rows+=("$name=${runs%,}")
done
$ST compare "${rows[@]}" -o "$OUT/table.md"

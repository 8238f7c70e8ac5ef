#!/usr/bin/env bash
# The UDA / source-free table of docs/benchmarks.md: one row per method, same
# student (LR-ASPP MobileNetV3-Small), same iterations, seeds 0 1 2, on the
# synthetic benchmark: source-only (the black box of bench/synth_black_box.sh),
# DACS, dual-teacher (frozen DeepLabV3-R50 source teacher), STvM and the
# thresholded mean teacher it is compared with, CLDA (student and teacher).
# Plain distillation and CoRTe rows come from bench/corte_table.sh when it has run.
# Finished runs are reused; an interrupted run resumes.
#   ITERATIONS (default 2500)  JOBS: runs side by side (default 1)  SEEDS (default "0 1 2")
#   ONLY: run only these variants (names below)
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${SEGTRANSFER:-build/segtransfer}
ITERATIONS=${ITERATIONS:-2500}
JOBS=${JOBS:-1}
SEEDS=${SEEDS:-"0 1 2"}
OUT=${OUT:-runs/uda_table}
THREADS=$(( $(nproc) / JOBS ))
bash bench/synth_black_box.sh >/dev/null
if [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" dual_teacher "* ]]; then
  [ -f runs/synth_teacher_r50/model.pt ] || $ST train -c configs/synth_teacher_r50.yaml --resume > runs/synth_teacher_r50.log 2>&1
fi

# name|config|extra --set overrides
VARIANTS=(
  "dacs|configs/synth_dacs.yaml|method=dacs"
  "dual_teacher|configs/synth_dacs.yaml|method=dual_teacher"
  "clda|configs/synth_dacs.yaml|method=clda"
  "stvm|configs/synth_stvm.yaml|method=stvm"
  "mean_teacher_threshold|configs/synth_stvm.yaml|method=stvm stvm.weighting=threshold stvm.metric_mix=false"
)

jobs_file=$(mktemp)
for variant in "${VARIANTS[@]}"; do
  IFS='|' read -r name config sets <<< "$variant"
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
  for seed in $SEEDS; do
    run=$OUT/${name}_s$seed
    [ -f "$run/metrics.json" ] && continue
    all="output=$run train.seed=$seed train.iterations=$ITERATIONS train.threads=$THREADS $sets"
    echo "$ST train -c $config --resume $(printf -- '--set %s ' $all) > $run.log 2>&1 || echo FAILED $run" >> "$jobs_file"
  done
done
mkdir -p "$OUT"
echo "uda_table: $(wc -l < "$jobs_file") runs to do, $JOBS at a time"
xargs -P "$JOBS" -I{} bash -c {} < "$jobs_file"
rm -f "$jobs_file"

# CLDA's teacher is scored from its saved weights.
for seed in $SEEDS; do
  run=$OUT/clda_s$seed
  [ -f "$run/clda_teacher.pt" ] && [ ! -f "$run/teacher_metrics.json" ] &&
    $ST eval --run "$run" --weights "$run/clda_teacher.pt" --set model.name=lraspp_mobilenet_v3_large \
      --json "$run/teacher_metrics.json" > /dev/null
done

runs_of() {  # a comma-separated list of the finished runs of $1 ($2: the file in each run)
  local list
  list=$(for seed in $SEEDS; do [ -f "$1_s$seed/${2:-metrics.json}" ] && printf '%s,' "$1_s$seed${2:+/$2}"; done)
  echo "${list%,}"
}
rows=("source-only (black box)=runs/synth_black_box.json")
for name in plain_distill corte; do
  r=$(runs_of runs/corte_table/$name); [ -n "$r" ] && rows+=("$name=$r")
done
for variant in "${VARIANTS[@]}"; do
  name=${variant%%|*}
  r=$(runs_of "$OUT/$name"); [ -n "$r" ] && rows+=("$name=$r")
done
r=$(runs_of "$OUT/clda" teacher_metrics.json); [ -n "$r" ] && rows+=("clda teacher (MobileNetV3-Large)=$r")
$ST compare "${rows[@]}" -o "$OUT/table.md"

#!/usr/bin/env bash
# The UDA / source-free table of docs/benchmarks.md: one row per method, same
# student (LR-ASPP MobileNetV3-Small), same iterations, seeds 0 1 2, on the
# synthetic benchmark: source-only (the black box of bench/synth_black_box.sh),
# plain distillation and CoRTe from the black box's store, DACS, dual-teacher
# (frozen larger source teacher, trained here first), STvM and the thresholded
# mean teacher it is compared with, CLDA (student and teacher).
# Finished runs are reused; an interrupted run resumes.
#   ITERATIONS (default 500)  JOBS: runs side by side (default 1)  SEEDS (default "0 1 2")
#   TEACHER: the frozen teacher's config (default configs/synth_teacher_large.yaml;
#            configs/synth_teacher_r50.yaml is the paper's DeepLabV3-R50, for a GPU)
#   TEACHER_ITERATIONS (default 1500)  ONLY: run only these variants (names below)
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${SEGTRANSFER:-build/segtransfer}
ITERATIONS=${ITERATIONS:-500}
TEACHER=${TEACHER:-configs/synth_teacher_large.yaml}
TEACHER_ITERATIONS=${TEACHER_ITERATIONS:-1500}
JOBS=${JOBS:-1}
SEEDS=${SEEDS:-"0 1 2"}
OUT=${OUT:-runs/uda_table}
THREADS=$(( $(nproc) / JOBS ))
bash bench/synth_black_box.sh >/dev/null
teacher_run=runs/$(basename "$TEACHER" .yaml)
teacher_model=$(sed -n 's/^model: {name: \([a-z0-9_]*\),.*/\1/p' "$TEACHER")

# name|config|extra --set overrides
VARIANTS=(
  "plain_distill|configs/synth_corte.yaml|method=plain_distill"
  "corte|configs/synth_corte.yaml|method=corte"
  "dacs|configs/synth_dacs.yaml|method=dacs"
  "dual_teacher|configs/synth_dacs.yaml|method=dual_teacher dual_teacher.teacher_model=$teacher_model dual_teacher.teacher_weights=$teacher_run/model.pt"
  "clda|configs/synth_dacs.yaml|method=clda"
  "stvm|configs/synth_stvm.yaml|method=stvm"
  "mean_teacher_threshold|configs/synth_stvm.yaml|method=stvm stvm.weighting=threshold stvm.metric_mix=false"
)

jobs_file=$(mktemp)
# The teacher trains as the queue's first job; dual_teacher runs (queued last) wait for it.
if { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" dual_teacher "* ]]; } && [ ! -f "$teacher_run/model.pt" ]; then
  echo "$ST train -c $TEACHER --resume --set train.iterations=$TEACHER_ITERATIONS --set train.threads=$THREADS > $teacher_run.log 2>&1 || { touch $teacher_run.failed; echo FAILED $teacher_run; }" >> "$jobs_file"
fi
for variant in "${VARIANTS[@]}"; do
  IFS='|' read -r name config sets <<< "$variant"
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && continue
  for seed in $SEEDS; do
    run=$OUT/${name}_s$seed
    [ -f "$run/metrics.json" ] && continue
    wait=""
    [ "$name" = dual_teacher ] && wait="while [ ! -f $teacher_run/model.pt ] && [ ! -f $teacher_run.failed ]; do sleep 10; done; "
    all="output=$run train.seed=$seed train.iterations=$ITERATIONS train.threads=$THREADS $sets"
    echo "$wait$ST train -c $config --resume $(printf -- '--set %s ' $all) > $run.log 2>&1 || echo FAILED $run" >> "$jobs_file"
  done
done
# dual_teacher last, so that the teacher has trained by then.
{ grep -v "/dual_teacher_s" "$jobs_file"; grep "/dual_teacher_s" "$jobs_file"; } > "$jobs_file.ordered" || true
mv "$jobs_file.ordered" "$jobs_file"
mkdir -p "$OUT"
rm -f "$teacher_run.failed"
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
[ -f "$teacher_run/metrics.json" ] && rows+=("frozen source teacher ($teacher_model)=$teacher_run/metrics.json")
for variant in "${VARIANTS[@]}"; do
  name=${variant%%|*}
  r=$(runs_of "$OUT/$name"); [ -n "$r" ] && rows+=("$name=$r")
done
r=$(runs_of "$OUT/clda" teacher_metrics.json); [ -n "$r" ] && rows+=("clda teacher (MobileNetV3-Large)=$r")
$ST compare "${rows[@]}" -o "$OUT/table.md"

#!/usr/bin/env bash
# The performance table of docs/performance.md, every figure taken in this one run:
# training throughput of segtransfer vs the PyTorch reference (bench/python_ref,
# same libtorch) for the source-only and CoRTe steps, loader stall, achieved GFLOP/s
# of the student's forward + backward against a large matmul, an operator profile,
# inference latency of students and teachers, peak memory, crop/batch scaling (and
# its PNG). Prints the Markdown table; keeps every raw result under $OUT.
#   THREADS (default 2)  ITERATIONS (default 200)  WARMUP (default 50)  OUT (default runs/bench)
#   REPEATS (default 3): training comparisons, alternating sides; the table shows medians
#   SKIP_PYTHON=1: no PyTorch side (its rows say so)
#   SKIP_STEP=1: without section 3 (per-student training step vs PyTorch at 240x176, bench/step_vs_pytorch.sh)
# Takes ~30 minutes on the 2-core machine (~65 with section 3). Run it on an otherwise idle machine:
# anything else on the cores (a build, another run) shows up in every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${SEGTRANSFER:-build/segtransfer}
PERF=${SEGTRANSFER_PERF:-build/segtransfer_perf}
THREADS=${THREADS:-2}
ITERATIONS=${ITERATIONS:-200}
WARMUP=${WARMUP:-50}
OUT=${OUT:-runs/bench}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3  # Debian's interpreter: python3-torch lives there, not in a pyenv/venv
start=$(date +%s)

if [ -z "${SKIP_PYTHON:-}" ]; then
  missing=()
  for p in python3-torch python3-torchvision python3-opencv python3-numpy; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "run.sh: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi
bash bench/synth_black_box.sh >&2
mkdir -p "$OUT/perf"

# 1. Micro-measurements, one process per case (peak memory is the case's own).
$PERF --benchmark_list_tests | while read -r name; do
  file="$OUT/perf/$(echo "$name" | tr '/:' '__').json"
  [ -n "${REUSE:-}" ] && [ -f "$file" ] && continue
  echo "run.sh: $name" >&2
  BENCH_THREADS=$THREADS $PERF --benchmark_filter="^${name}\$" --benchmark_out="$file.tmp" \
    --benchmark_out_format=json > /dev/null
  mv "$file.tmp" "$file"
done
$PERF --scaling-plot "$OUT/scaling.png" "$OUT"/perf/scaling_*.json

# 2. Training steps, segtransfer and PyTorch alternately, same data, batch, crop and threads.
train_cpp() {  # method config extra-sets...
  local method=$1 config=$2; shift 2
  local run="$OUT/cpp_$method$suffix"
  rm -rf "$run"
  echo "run.sh: segtransfer $method" >&2
  $ST train -c "$config" -o "$run" --set train.iterations=$ITERATIONS --set train.threads=$THREADS \
    --set train.log_every=$WARMUP --set train.eval_every=100000 --set train.checkpoint_every=100000 "$@" > "$run.log" 2>&1
  $PY bench/python_ref/cpp_metrics.py "$run" --warmup "$WARMUP" --method "$method" > "$OUT/cpp_$method$suffix.json"
}
train_python() {  # result-name method extra-args...
  local name=$1 method=$2; shift 2
  if [ -n "${SKIP_PYTHON:-}" ]; then rm -f "$OUT/python_$name$suffix.json"; return; fi
  echo "run.sh: pytorch $name" >&2
  $PY bench/python_ref/train_ref.py --method "$method" --data data/synth --iterations "$ITERATIONS" \
    --warmup "$WARMUP" --batch 8 --crop 192x128 --threads "$THREADS" --workers 1 --seed 0 "$@" \
    > "$OUT/python_$name$suffix.json" 2> "$OUT/python_$name$suffix.log"
}
# segtransfer trains channels-last by default (train.channels_last); the PyTorch peer is
# measured as users write it (NCHW) and with the same switch (--channels-last). Single
# runs vary by up to ±20% here, hence the repeats.
rm -f "$OUT"/cpp_*.json "$OUT"/python_*.json
for repeat in $(seq 1 "$REPEATS"); do
  suffix=_r$repeat
  train_cpp source_only configs/synth_source_only.yaml
  train_python source_only source_only
  train_python source_only_channels_last source_only --channels-last
  train_cpp corte configs/synth_corte.yaml --set store.path=runs/synth_store --set corte.diagnostics_every=0
  train_python corte corte --store runs/synth_store
  train_python corte_channels_last corte --store runs/synth_store --channels-last
done

# 3. Training step per student (ESPNetv2 s2/s1, LR-ASPP MobileNetV3-Large) against PyTorch at batch 8 of
# 240x176 crops (bench/step_vs_pytorch.sh; issue 17 item 5). ~35 more minutes; SKIP_STEP=1 leaves it out.
if [ -z "${SKIP_PYTHON:-}" ] && [ -z "${SKIP_STEP:-}" ]; then
  OUT="$OUT/step" THREADS=$THREADS REPEATS=$REPEATS bash bench/step_vs_pytorch.sh > "$OUT/step.md"
fi

$PY bench/perf_table.py "$OUT" --threads "$THREADS" --minutes "$(( ($(date +%s) - start + 59) / 60 ))" | tee "$OUT/table.md"
if [ -f "$OUT/step.md" ] && [ -z "${SKIP_PYTHON:-}" ] && [ -z "${SKIP_STEP:-}" ]; then
  { echo; cat "$OUT/step.md"; } | tee -a "$OUT/table.md"
fi
echo "run.sh: wrote $OUT/table.md and $OUT/scaling.png" >&2

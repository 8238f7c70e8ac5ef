#!/usr/bin/env bash
# Training step time of segtransfer against its PyTorch peer (bench/python_ref/train_ref.py,
# same libtorch_cpu.so) per student, on the same data, batch, crop and threads (issue 17,
# item 5: ESPNetv2-2.0 against LR-ASPP MobileNetV3-Large). The step is source_only's:
# forward, CE, zero_grad, backward, AdamW step. Per model and repeat, alternating:
# segtransfer channels-last (its default, train.channels_last), segtransfer NCHW,
# PyTorch NCHW (as users write it), PyTorch --channels-last. Prints a Markdown table of
# median seconds per step; raw JSON under $OUT. bench/run.sh calls it (section 3).
#   MODELS (default "espnetv2_s2 espnetv2_s1 lraspp_mobilenet_v3_large")  CROP (240x176)
#   BATCH (8)  THREADS (2)  ITERATIONS (50)  WARMUP (10)  REPEATS (3)  REPEAT_FROM (1)
#   OUT (runs/bench/step)  TABLE_ONLY=1: only print the table of what is in $OUT
# Needs data/synth (bench/synth_black_box.sh or `segtransfer synth`, see below) and
# Debian's python3-torch (bench/run.sh installs it). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ST=${SEGTRANSFER:-build/segtransfer}
PY=/usr/bin/python3
MODELS=${MODELS:-espnetv2_s2 espnetv2_s1 lraspp_mobilenet_v3_large}
CROP=${CROP:-240x176}
BATCH=${BATCH:-8}
THREADS=${THREADS:-2}
ITERATIONS=${ITERATIONS:-50}
WARMUP=${WARMUP:-10}
REPEATS=${REPEATS:-3}
REPEAT_FROM=${REPEAT_FROM:-1}
OUT=${OUT:-runs/bench/step}
mkdir -p "$OUT"

if [ -z "${TABLE_ONLY:-}" ]; then
  [ -d data/synth/source ] || $ST synth -o data/synth --size 320x160 --source-train 600 --source-val 100 \
    --target-train 600 --target-val 100
  cw=${CROP%x*}; ch=${CROP#*x}
  cpp() {  # model variant extra-sets...
    local model=$1 variant=$2; shift 2
    local run="$OUT/cpp_${model}_${variant}_r$repeat"
    rm -rf "$run"
    echo "step_vs_pytorch.sh: segtransfer $model $variant (repeat $repeat)" >&2
    $ST train -c configs/synth_source_only.yaml -o "$run" --set model.name="$model" --set "data.augment.crop=[$cw,$ch]" \
      --set train.batch_size="$BATCH" --set train.iterations="$ITERATIONS" --set train.threads="$THREADS" \
      --set train.log_every="$WARMUP" --set train.eval_every=100000 --set train.checkpoint_every=100000 "$@" > "$run.log" 2>&1
    $PY bench/python_ref/cpp_metrics.py "$run" --warmup "$WARMUP" --batch "$BATCH" --method source_only > "$run.json"
  }
  python() {  # model variant extra-args...
    local model=$1 variant=$2; shift 2
    echo "step_vs_pytorch.sh: pytorch $model $variant (repeat $repeat)" >&2
    $PY bench/python_ref/train_ref.py --method source_only --model "$model" --data data/synth \
      --iterations "$ITERATIONS" --warmup "$WARMUP" --batch "$BATCH" --crop "$CROP" --threads "$THREADS" \
      --workers 1 --seed 0 "$@" > "$OUT/python_${model}_${variant}_r$repeat.json" 2> "$OUT/python_${model}_${variant}_r$repeat.log"
  }
  for repeat in $(seq "$REPEAT_FROM" $((REPEAT_FROM + REPEATS - 1))); do
    for model in $MODELS; do
      cpp "$model" channels_last
      python "$model" nchw
      cpp "$model" nchw --set train.channels_last=false
      python "$model" channels_last --channels-last
    done
  done
fi

$PY - "$OUT" "$BATCH" "$CROP" "$THREADS" <<'PYEOF'
import json, re, statistics, sys
from pathlib import Path
out, batch, crop, threads = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def steps(side, model, variant):
    runs = [json.loads(f.read_text()) for f in sorted(out.glob(f"{side}_{model}_{variant}_r*.json"))]
    return [batch / r["images_per_s"] for r in runs]
models = sorted({m.group(1) for f in out.glob("*_r*.json")
                 if (m := re.match(r"(?:cpp|python)_(.+)_(?:channels_last|nchw)_r\d+\.json$", f.name))})
print(f"Training step (source_only: forward, CE, backward, AdamW), batch {batch}, crop {crop}, {threads} threads; "
      "median s/step over repeats (all repeats in brackets); PyTorch = bench/python_ref/train_ref.py, same libtorch")
print()
print("| model | segtransfer (channels-last, default) | segtransfer NCHW | PyTorch NCHW | PyTorch channels-last "
      "| PyTorch best / segtransfer |")
print("|---|---:|---:|---:|---:|---:|")
def cell(v):
    return f"{statistics.median(v):.3f} ({', '.join(f'{x:.2f}' for x in v)})" if v else "–"
for model in models:
    c_cl, c_nchw = steps("cpp", model, "channels_last"), steps("cpp", model, "nchw")
    p_nchw, p_cl = steps("python", model, "nchw"), steps("python", model, "channels_last")
    best_py = min([statistics.median(v) for v in (p_nchw, p_cl) if v], default=None)
    ratio = f"{best_py / statistics.median(c_cl):.2f}" if best_py and c_cl else "–"
    print(f"| {model} | {cell(c_cl)} | {cell(c_nchw)} | {cell(p_nchw)} | {cell(p_cl)} | {ratio} |")
PYEOF

#!/usr/bin/env python3
"""Prints bench/run.sh's Markdown table from the raw results it left in OUT.

  python3 bench/perf_table.py runs/bench --threads 2 --minutes 25
"""
import argparse
import datetime
import json
import platform
import re
import statistics
from pathlib import Path


def load(path):
    return json.loads(path.read_text()) if path.exists() else None


def load_repeats(out, stem):
    """The median (per field) of OUT/STEM_r*.json, with the list of images/s; None without any."""
    runs = [json.loads(f.read_text()) for f in sorted(out.glob(f"{stem}_r*.json"))]
    if not runs:
        return None
    median = {k: statistics.median(r[k] for r in runs) for k in ("images_per_s", "data_wait_share", "peak_rss_mib")}
    median["all_images_per_s"] = [r["images_per_s"] for r in runs]
    return median


def perf_results(out):
    """name -> the case's Google Benchmark record (the last repetition)."""
    results = {}
    for f in sorted((out / "perf").glob("*.json")):
        for run in json.loads(f.read_text())["benchmarks"]:
            if run.get("run_type") == "aggregate" and run.get("aggregate_name") != "median":
                continue  # repeated cases: their median
            # Google Benchmark appends the run settings ("/min_time:3.000", "/iterations:10", "/repeats:5").
            key = re.sub(r"/(min_time|iterations|repeats):[^/]*", "", run.get("run_name", run["name"]))
            run["key"] = key
            results[key] = run
    return results


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def goal(ok):
    return "met" if ok else "**not met**"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--minutes", type=int, default=0)
    args = p.parse_args()
    out = Path(args.out)
    perf = perf_results(out)
    lines = []
    say = lines.append

    say(f"Measured {datetime.date.today().isoformat()} on {cpu_model()}, {args.threads} intra-op threads, "
        f"by `bash bench/run.sh` ({args.minutes} min in all).")
    say("")
    say("**Training** (synthetic benchmark, LR-ASPP MobileNetV3-Small, batch 8 of 192×128 crops, one loader "
        "worker; steady state after warm-up; PyTorch = `bench/python_ref/train_ref.py` on the same libtorch)")
    say("")
    say("| step | segtransfer img/s | PyTorch img/s | ratio (goal ≥ 1.3) | PyTorch channels-last img/s | ratio "
        "| loader wait: segtransfer / PyTorch (goal < 5%) | peak RSS MiB: segtransfer / PyTorch | ratio (goal ≤ 0.8) |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for method in ("source_only", "corte"):
        cpp, py = load_repeats(out, f"cpp_{method}"), load_repeats(out, f"python_{method}")
        py_cl = load_repeats(out, f"python_{method}_channels_last")
        cl = (f"{py_cl['images_per_s']:.1f} | {cpp['images_per_s'] / py_cl['images_per_s']:.2f}×" if py_cl and cpp
              else "not run | -")
        if not cpp:
            continue
        if py:
            ratio = cpp["images_per_s"] / py["images_per_s"]
            memory = cpp["peak_rss_mib"] / py["peak_rss_mib"]
            say(f"| {method} | {cpp['images_per_s']:.1f} | {py['images_per_s']:.1f} | {ratio:.2f}× ({goal(ratio >= 1.3)}) "
                f"| {cl} | {100 * cpp['data_wait_share']:.1f}% ({goal(cpp['data_wait_share'] < 0.05)}) / "
                f"{100 * py['data_wait_share']:.1f}% | {cpp['peak_rss_mib']:.0f} / {py['peak_rss_mib']:.0f} "
                f"| {memory:.2f} ({goal(memory <= 0.8)}) |")
        else:
            say(f"| {method} | {cpp['images_per_s']:.1f} | not run | - | - | - | {100 * cpp['data_wait_share']:.1f}% | "
                f"{cpp['peak_rss_mib']:.0f} / - | - |")
    say("")
    say("Medians of the repeats; every run's images/s, in order: " + "; ".join(
        f"{side} {method}: " + ", ".join(f"{x:.1f}" for x in r["all_images_per_s"])
        for method in ("source_only", "corte")
        for side, r in (("segtransfer", load_repeats(out, f"cpp_{method}")), ("PyTorch", load_repeats(out, f"python_{method}")),
                        ("PyTorch channels-last", load_repeats(out, f"python_{method}_channels_last")))
        if r) + ".")
    say("")

    step = perf.get("train_step/lraspp_mobilenet_v3_small/192x128/batch:8")
    mm = perf.get("matmul/2048") or perf.get("matmul/2048/2048")
    conv_gemm = perf.get("conv1x1_gemm")
    if step and mm:
        limit = max(mm["gflops"], conv_gemm["gflops"] if conv_gemm else 0)
        share = step["gflops"] / limit
        say("**Compute** (the same step on random tensors, no loader: forward + CE + backward + AdamW + EMA update)")
        say("")
        say("| GEMM 2048² GFLOP/s (OpenBLAS) | same MACs as a 1×1 conv (oneDNN) | step ms | forward | backward | AdamW | EMA "
            "| forward+backward GFLOP/s | share of the faster GEMM |")
        say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        conv_gflops = f"{conv_gemm['gflops']:.1f}" if conv_gemm else "not run"
        say(f"| {mm['gflops']:.1f} | {conv_gflops} | {step['step_ms']:.1f} | {step['forward_ms']:.1f} | {step['backward_ms']:.1f} "
            f"| {step['optimiser_ms']:.1f} | {step['ema_ms']:.1f} | {step['gflops']:.1f} | {100 * share:.0f}% |")
        cl = perf.get("train_step_channels_last/lraspp_mobilenet_v3_small/192x128/batch:8")
        if cl:
            say("")
            say(f"Channels-last (NHWC) weights and images, same step: {cl['step_ms']:.1f} ms "
                f"(forward {cl['forward_ms']:.1f}, backward {cl['backward_ms']:.1f}) against {step['step_ms']:.1f} ms NCHW.")
        say("")
    prof = perf.get("train_profile/lraspp_mobilenet_v3_small/192x128/batch:8")
    if prof:
        shares = {k[len("share_"):]: v for k, v in prof.items() if k.startswith("share_")}
        shares["other (elementwise, copies, optimiser, EMA, framework)"] = max(0.0, 1 - sum(shares.values()))
        say("**Where the step's time goes** (legacy autograd profiler, inclusive time of each operator family, "
            "10 profiled steps; the profiler adds its own overhead)")
        say("")
        say("| " + " | ".join(shares) + " |")
        say("|" + "---:|" * len(shares))
        say("| " + " | ".join(f"{100 * v:.0f}%" for v in shares.values()) + " |")
        say("")

    say("**Inference** (batch 1, eval mode, no autograd; `fused`: BatchNorm folded into the convolutions)")
    say("")
    say("| model | input | ms (BN) | ms (fused) | FPS (fused) | GFLOP/s | × faster than DeepLabV3-R50 |")
    say("|---|---|---:|---:|---:|---:|---:|")
    for size in ("1024x512", "512x256"):
        teacher = perf.get(f"inference/deeplabv3_resnet50/{size}/fused_bn")
        for model in ("lraspp_mobilenet_v3_small", "lraspp_mobilenet_v3_large", "espnet", "deeplabv3_resnet50"):
            bn, fused = perf.get(f"inference/{model}/{size}/bn"), perf.get(f"inference/{model}/{size}/fused_bn")
            if not bn or not fused:
                continue
            speedup = teacher["real_time"] / fused["real_time"] if teacher else float("nan")
            note = ""
            if size == "1024x512" and model != "deeplabv3_resnet50":
                note = f" (≥ 10 FPS: {goal(fused['fps'] >= 10)}; ≥ 8×: {goal(speedup >= 8)})"
            say(f"| {model} | {size} | {bn['real_time']:.1f} | {fused['real_time']:.1f} | {fused['fps']:.1f}{note} "
                f"| {fused['gflops']:.1f} | {speedup:.1f} |")
    say("")

    scaling = sorted((r for n, r in perf.items() if n.startswith("scaling/")),
                     key=lambda r: (int(r["key"].split("batch:")[1]), int(r["key"].split("crop:")[1].split("/")[0])))
    if scaling:
        say("**Scaling** (training step of the student on random tensors; plot: `scaling.png`)")
        say("")
        say("| crop | batch | step ms | images/s | peak RSS MiB |")
        say("|---|---:|---:|---:|---:|")
        for r in scaling:
            crop = r["key"].split("crop:")[1].split("/")[0]
            say(f"| {crop}×{crop} | {r['key'].split('batch:')[1]} | {r['step_ms']:.0f} | {r['images_per_s']:.2f} "
                f"| {r['peak_rss_mib']:.0f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

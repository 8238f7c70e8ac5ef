#!/usr/bin/env python3
"""The C++ side's figures in train_ref.py's form, from a segtransfer run's metrics.jsonl.

segtransfer logs one line per train.log_every iterations with that window's it_per_s and
data_wait_share; this sums the windows that start at or after --warmup (so train.log_every
must divide --warmup) into images/s and a data-wait share over the same iterations
train_ref.py measures. peak_rss_mib is the process's ru_maxrss (one process: the loader
workers are threads).

  python3 bench/python_ref/cpp_metrics.py RUN_DIR --warmup 50 --batch 8 [--method corte]
"""
import argparse
import json
from pathlib import Path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="segtransfer run folder (holds metrics.jsonl and config.yaml)")
    p.add_argument("--warmup", type=int, required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--method", default="")
    args = p.parse_args()

    lines = [json.loads(l) for l in (Path(args.run) / "metrics.jsonl").read_text().splitlines() if l.strip()]
    train = [l for l in lines if "it_per_s" in l]
    seconds = wait = 0.0
    iterations = 0
    previous = 0
    for line in train:
        n = line["iter"] - previous
        start, previous = previous, line["iter"]
        if start < args.warmup:
            continue
        window = n / line["it_per_s"]
        seconds += window
        wait += line["data_wait_share"] * window
        iterations += n
    if iterations == 0:
        raise SystemExit(f"no log window starts at or after iteration {args.warmup}: set train.log_every to divide it")
    print(json.dumps({
        "method": args.method or "segtransfer",
        "images_per_s": iterations * args.batch / seconds,
        "data_wait_share": wait / seconds,
        "peak_rss_mib": max(l["peak_rss_mib"] for l in train),
        "iterations": train[-1]["iter"],
        "measured_iterations": iterations,
        "seconds": seconds,
    }))


if __name__ == "__main__":
    main()

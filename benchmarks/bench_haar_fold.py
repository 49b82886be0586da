"""Decode time on ONNX Runtime CPU: wavelet families folded vs Haar-lowered-only vs HNeRV, side by side.

For each wavelet family, the same exported decoder runs (a) after the full ORT pipeline (``fold=True``:
Haar folded where exact, constants folded, conv pairs merged) and (b) with Haar lowered to standard ops
but nothing folded (``fold=False``); HNeRV with the same parameter budget and frame size is the baseline.
Weights are random (decode time does not depend on their values). Reports the median and p90 latency per
frame over ``--runs`` decodes of batch ``--batch``, and each graph's cost relative to HNeRV.

    python benchmarks/bench_haar_fold.py --size 0.35 --hw 160x320 --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np
import onnxruntime as ort
import torch

from nervkit.export.onnx_graph import export_decoder_onnx
from nervkit.export.passes.pipeline import optimize_for
from nervkit.trainer.registry import create_model


def _session(graph, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _time(sess, feeds, runs: int, batch: int) -> dict:
    sess.run(None, feeds)  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) / batch * 1e3)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}


def measure(name: str, hw, size: float, batch: int, runs: int, threads: int, fold_variants) -> dict:
    torch.manual_seed(0)
    model = create_model(name, hw, num_frames=32, size=size).eval()
    with torch.no_grad():
        embeds = model.encode(torch.rand(batch, 3, *hw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = export_decoder_onnx(model, embeds)
    feeds = {k: embeds[k].numpy() for k in model.embed_names}
    out = {"decoder_params": model.decoder_parameters(),
           "haar_nodes": sum(n.domain == "nervkit" for n in raw.graph.node)}
    for label, fold in fold_variants:
        graph = optimize_for(raw, "ort", fold=fold)
        out[label] = {**_time(_session(graph, threads), feeds, runs, batch), "nodes": len(graph.graph.node)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="snerv,hfs-hnerv", help="wavelet families, comma-separated")
    ap.add_argument("--size", type=float, default=0.35, help="parameter budget in millions (all models)")
    ap.add_argument("--hw", default="160x320", help="frame size HxW")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    ap.add_argument("--json", help="write the results as JSON here")
    args = ap.parse_args(argv)
    hw = tuple(int(v) for v in args.hw.lower().split("x"))
    both = (("folded", True), ("lowered", False))
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "threads": args.threads, "onnxruntime": ort.__version__},
               "size_m": args.size, "hw": hw, "batch": args.batch, "runs": args.runs,
               "hnerv": measure("hnerv", hw, args.size, args.batch, args.runs, args.threads, both[:1])}
    base = results["hnerv"]["folded"]["median_ms"]
    print(f"ORT CPU, {args.threads} threads, {hw[0]}x{hw[1]}, {args.size}M params, batch {args.batch}, "
          f"median of {args.runs} (ms/frame)", file=sys.stderr)
    header = f"{'model':<12}{'graph':<9}{'params':>9}{'ms/frame':>10}{'p90':>8}{'vs HNeRV':>10}"
    print(header, file=sys.stderr)
    print(f"{'hnerv':<12}{'folded':<9}{results['hnerv']['decoder_params']:>9}{base:>10.2f}"
          f"{results['hnerv']['folded']['p90_ms']:>8.2f}{'1.00x':>10}", file=sys.stderr)
    for family in args.families.split(","):
        r = results[family] = measure(family, hw, args.size, args.batch, args.runs, args.threads, both)
        for label, _ in both:
            t = r[label]["median_ms"]
            print(f"{family:<12}{label:<9}{r['decoder_params']:>9}{t:>10.2f}{r[label]['p90_ms']:>8.2f}"
                  f"{t / base:>9.2f}x", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Decode cost on ONNX Runtime CPU: each family's graph folded vs Haar-lowered-only vs HNeRV, one run.

For every family the same exported decoder runs (a) after the full ORT pipeline (``fold=True``: Haar
folded where exact, constants folded, conv pairs merged) and (b) with Haar lowered to standard ops but
nothing folded (``fold=False``, what a package holds); HNeRV with the same parameter budget and frame size is
the baseline. Weights are random (decode time does not depend on their values). For each graph: median
and p90 milliseconds per frame over ``--runs`` timed decodes after one warm-up, multiply-accumulates per
frame counted from the graph, and time and MACs relative to HNeRV, so a wavelet family's extra time can be
told apart from its extra arithmetic.

    python benchmarks/bench_haar_fold.py --size 0.35 --hw 160x320 --runs 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import onnxruntime as ort
import torch

from nervkit.export.onnx_graph import export_decoder_onnx
from nervkit.export.passes.pipeline import optimize_for
from nervkit.player.machine import describe
from nervkit.player.macs import graph_macs
from nervkit.runtime.timing import measure
from nervkit.trainer.registry import create_model

FAMILIES = "snerv,hfs-hnerv,hfe-hnerv,cf-nerv"


def _session(graph, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def bench_family(name: str, args, hw, variants) -> dict:
    torch.manual_seed(0)
    model = create_model(name, hw, num_frames=32, size=args.size).eval()
    with torch.no_grad():
        embeds = model.encode(model.clip_input(torch.rand(args.batch, 3, *hw)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings of the export
        raw = export_decoder_onnx(model, embeds)
    feeds = {k: embeds[k].numpy() for k in model.embed_names}
    shapes = {k: v.shape[1:] for k, v in feeds.items()}
    out = {"decoder_params": model.decoder_parameters(),
           "haar_nodes": sum(n.domain == "nervkit" for n in raw.graph.node)}
    for label, fold in variants:
        graph = optimize_for(raw, "ort", fold=fold)
        sess = _session(graph, args.threads)
        t = measure(lambda s=sess: s.run(None, feeds), warmup=1, repeats=args.runs)
        out[label] = {"median_ms": t.median_s * 1e3 / args.batch, "p90_ms": t.percentile_s(90) * 1e3 / args.batch,
                      "macs_per_frame": graph_macs(graph, shapes), "nodes": len(graph.graph.node)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=FAMILIES, help="families compared with HNeRV, comma-separated")
    ap.add_argument("--size", type=float, default=0.35, help="parameter budget in millions (all models)")
    ap.add_argument("--hw", default="160x320", help="frame size HxW")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    ap.add_argument("--json", help="write the results as JSON here")
    args = ap.parse_args(argv)
    hw = tuple(int(v) for v in args.hw.lower().split("x"))
    both = (("folded", True), ("lowered", False))
    results = {"machine": {**describe(), "ort_threads": args.threads}, "size_m": args.size, "hw": hw,
               "batch": args.batch, "warmup": 1, "runs": args.runs,
               "models": {"hnerv": bench_family("hnerv", args, hw, both[:1])}}
    base = results["models"]["hnerv"]["folded"]
    print(f"ORT CPU, {args.threads} threads, {hw[0]}x{hw[1]}, {args.size}M params, batch {args.batch}, 1 warm-up, "
          f"median of {args.runs}; {results['machine']['cpu']}")
    print(f"{'model':<11}{'graph':<9}{'params':>9}{'Haar':>5}{'GMAC/fr':>9}{'ms/frame':>10}{'p90':>8}"
          f"{'time/HNeRV':>11}{'MACs/HNeRV':>11}")
    for family in ["hnerv", *args.families.split(",")]:
        if family not in results["models"]:
            results["models"][family] = bench_family(family, args, hw, both)
        r = results["models"][family]
        for label, _ in both:
            if label not in r:
                continue
            g = r[label]
            print(f"{family:<11}{label:<9}{r['decoder_params']:>9}{r['haar_nodes']:>5}"
                  f"{g['macs_per_frame'] / 1e9:>9.3f}{g['median_ms']:>10.2f}{g['p90_ms']:>8.2f}"
                  f"{g['median_ms'] / base['median_ms']:>10.2f}x{g['macs_per_frame'] / base['macs_per_frame']:>10.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

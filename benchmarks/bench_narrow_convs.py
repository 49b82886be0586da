"""HFS-HNeRV's dual convolutions in the layouts that fill more vector lanes, on OpenVINO's CPU plugin.

    python benchmarks/bench_narrow_convs.py [--precision bf16] [--repeats 40] [--json FILE]

HFSCM's ``Conv3(GELU(Conv3(.)))`` at ``C = 18`` channels and 160x320 (the last stage of the 0.35M model)
runs at about half HNeRV's rate per MAC (``docs/precision.md``). An exact rewrite can only move pixels into
channels: width pairs (``[36, 160, 160]``, a dense 3x3 kernel there holds 2x the MACs) or a space-to-depth
by 2 (``[72, 80, 160]``, 4x). Each layout is timed here with random weights (time does not depend on
them), interleaved round by round, median after warm-up; plus the same pair at 32 channels, the next
multiple of 16, to show what a wider layer costs per MAC, and each 18-channel conv split by output
channels into a 16-channel and a 2-channel conv joined by a Concat (oneDNN runs 16 outputs at about
twice the rate per MAC of 18; the same MACs, so it pays only if the 2-channel rest and the Concat are cheap).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from nervkit.player.machine import describe

LAYOUTS = {"as is": (18, 160, 320, 1, None), "width pairs": (36, 160, 160, 2, None),
           "space-to-depth 2": (72, 80, 160, 4, None), "32 channels": (32, 160, 320, 32 * 32 / 18 / 18, None),
           "16 + 2 outputs": (18, 160, 320, 1, 16)}
"""name -> channels, height, width, MACs relative to the 18-channel pair, output channels of the first
part where each conv is split by outputs (None: one conv)."""


def _pair(ov, ops, channels: int, h: int, w: int, split: int | None, rng):
    x = ops.parameter([1, channels, h, w], np.float32)
    y = x
    for _ in range(2):
        kernel = (rng.standard_normal((channels, channels, 3, 3)) * 0.1).astype(np.float32)
        parts = [kernel] if split is None else [kernel[:split], kernel[split:]]
        convs = [ops.convolution(y, ops.constant(k), [1, 1], [1, 1], [1, 1], [1, 1]) for k in parts]
        y = ops.gelu(convs[0] if split is None else ops.concat(convs, 1), "erf")
    return ov.Model([y], [x])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--precision", default="bf16", choices=("bf16", "f32"))
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    import openvino as ov
    import openvino.opset13 as ops

    core, rng = ov.Core(), np.random.default_rng(0)
    runs = {}
    for name, (c, h, w, macs, split) in LAYOUTS.items():
        compiled = core.compile_model(_pair(ov, ops, c, h, w, split, rng), "CPU", {
            "INFERENCE_PRECISION_HINT": args.precision, "PERFORMANCE_HINT": "LATENCY"})
        runs[name] = {"request": compiled.create_infer_request(), "x": rng.random((1, c, h, w), np.float32),
                      "macs": macs, "times": []}
    for rnd in range(args.warmup + args.repeats):
        for run in runs.values():
            t0 = time.perf_counter()
            run["request"].infer({0: run["x"]})
            if rnd >= args.warmup:
                run["times"].append(time.perf_counter() - t0)
    base = float(np.median(runs["as is"]["times"]))
    rows = [{"layout": name, "shape": list(LAYOUTS[name][:3]), "ms": 1e3 * float(np.median(r["times"])),
             "time_vs_as_is": float(np.median(r["times"])) / base, "macs_vs_as_is": r["macs"]}
            for name, r in runs.items()]
    for r in rows:
        print(f"{r['layout']:18s} {'x'.join(map(str, r['shape'])):12s} {r['ms']:7.2f} ms"
              f"  time x{r['time_vs_as_is']:.2f}  MACs x{r['macs_vs_as_is']:.2f}"
              f"  per MAC x{r['time_vs_as_is'] / r['macs_vs_as_is']:.2f}")
    if args.json:
        settings = {"precision": args.precision, "warmup": args.warmup, "repeats": args.repeats,
                    "timed": "two 3x3 convs with GELU, batch 1, OpenVINO LATENCY, interleaved, median"}
        Path(args.json).write_text(json.dumps({"machine": describe(), "settings": settings, "rows": rows},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where each family's decode time goes, per backend: time per operator type, from the backends' own
profilers (OpenVINO ``PERF_COUNT``, ONNX Runtime session profiling), on one frame at batch 1.

    python benchmarks/profile_families.py PACKAGE... [--repeats 5] [--json FILE]

For each package and each of ``ort-cpu`` fp32, ``openvino`` fp32 and ``openvino`` bf16 (where the CPU
runs it): total decode milliseconds per frame (median of ``--repeats`` after two warm-ups) and the share
of each operator type (as each backend names it, e.g. OpenVINO's fused ``Convolution`` or ONNX
Runtime's ``FusedConv``), summed over the last profiled call; and the time outside the graph's
convolutions (``non_conv_share``) and the convolutions' own rate: each convolution node's
milliseconds, multiply-adds (``player/macs.node_macs``) and GMAC/s, the slowest first. Time outside
the convolutions, and convolutions far below the rate of the wide ones, are what is not in the math:
element-wise chains that did not fuse, layout reorders, narrow convolutions (1 or 3 output channels)
that waste vector lanes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from nervkit.player.machine import describe
from nervkit.player.macs import load_graph, node_macs
from nervkit.runtime import open_package
from nervkit.runtime.backends import available_backends, precisions
from nervkit.runtime.backends.openvino import OpenVinoBackend


def _median_ms(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def profile_openvino(pkg, feeds, precision: str, repeats: int, macs: dict[str, int]) -> dict:
    backend = OpenVinoBackend(pkg, 1, "openvino", precision)
    backend._config["PERF_COUNT"] = True  # noqa: SLF001 - a profiling switch of this benchmark only
    ms = _median_ms(lambda: backend.run(feeds), repeats)
    ops, nodes = collections.Counter(), collections.Counter()
    for info in backend._pool("float", 1)[0].profiling_info:  # noqa: SLF001
        ops[info.node_type] += info.real_time.total_seconds()
        nodes[info.node_name.removesuffix("/WithoutBiases")] += info.real_time.total_seconds()
    backend.close()
    return {"ms_per_frame": ms, "op_share": _shares(ops), **_conv_rates(ops, nodes, macs)}


def profile_ort(pkg, feeds, repeats: int, macs: dict[str, int]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        weights = pkg.weights()
        values = [ort.OrtValue.ortvalue_from_numpy(w) for w in weights.values()]
        opts.add_external_initializers(list(weights), values)
        plain = ort.InferenceSession(pkg.graph_bytes(), opts, providers=["CPUExecutionProvider"])
        ms = _median_ms(lambda: plain.run(None, feeds), repeats)
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        sess = ort.InferenceSession(pkg.graph_bytes(), opts, providers=["CPUExecutionProvider"])
        for _ in range(3):
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
    ops, nodes = collections.Counter(), collections.Counter()
    last_run = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_call = len(last_run) // 3
    for e in last_run[-per_call:]:
        ops[e["args"]["op_name"]] += e["dur"] * 1e-6
        nodes[e["name"].removesuffix("_kernel_time")] += e["dur"] * 1e-6
    return {"ms_per_frame": ms, "op_share": _shares(ops), **_conv_rates(ops, nodes, macs)}


CONV_TYPES = {"Convolution", "GroupConvolution", "ConvolutionBackpropData",  # OpenVINO
              "Conv", "FusedConv", "NhwcFusedConv", "ConvTranspose"}  # ONNX Runtime


def _conv_rates(ops: collections.Counter, nodes: collections.Counter, macs: dict[str, int]) -> dict:
    """Share of the profiled time outside convolution kernels (by the backend's op type, fused
    element-wise work included in the convolution), and the time, MACs and rate of each convolution the
    backend kept the graph's name for (fused ones it renamed are left out), slowest first."""
    total = sum(ops.values()) or 1.0
    convs = sorted(((name, t) for name, t in nodes.items() if name in macs), key=lambda x: -x[1])
    rows = [{"node": name, "ms": round(1e3 * t, 3), "mmac": round(macs[name] / 1e6, 2),
             "gmac_per_s": round(macs[name] / t / 1e9, 1) if t else None} for name, t in convs]
    return {"non_conv_share": round(1 - sum(t for k, t in ops.items() if k in CONV_TYPES) / total, 4),
            "convs": rows}


def _shares(ops: collections.Counter) -> dict[str, float]:
    total = sum(ops.values()) or 1.0
    return {k: round(v / total, 4) for k, v in ops.most_common() if v / total >= 0.005}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("packages", nargs="+")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write the results as JSON")
    args = ap.parse_args()
    ov_precisions = precisions("openvino") if "openvino" in available_backends() else ()
    out = []
    for path in args.packages:
        with open_package(path) as pkg:
            feeds, macs = pkg.embeddings(0, 1), node_macs(load_graph(pkg), pkg.embed_shapes)
            row = {"package": path, "family": pkg.family, "macs_per_frame": sum(macs.values()),
                   "ort-cpu fp32": profile_ort(pkg, feeds, args.repeats, macs)}
            for p in ("fp32", "bf16"):
                if p in ov_precisions:
                    row[f"openvino {p}"] = profile_openvino(pkg, feeds, p, args.repeats, macs)
        print(json.dumps({k: v if not isinstance(v, dict) else {
            "ms": round(v["ms_per_frame"], 2), "non_conv": v["non_conv_share"],
            "top": dict(list(v["op_share"].items())[:5]), "slowest_conv": v["convs"][:1]}
            for k, v in row.items()}), file=sys.stderr)
        out.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": describe(), "repeats": args.repeats,
                                               "packages": out}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

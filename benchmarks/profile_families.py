"""Where each family's decode time goes, per backend: time per operator type, from the backends' own
profilers (OpenVINO ``PERF_COUNT``, ONNX Runtime session profiling), on one frame at batch 1.

    python benchmarks/profile_families.py PACKAGE... [--repeats 5] [--json FILE]

For each package and each of ``ort-cpu`` fp32, ``openvino`` fp32 and ``openvino`` bf16 (where the CPU
runs it): total decode milliseconds per frame (median of ``--repeats`` after two warm-ups) and the share
of each operator type (as each backend names it, e.g. OpenVINO's fused ``Convolution`` or ONNX
Runtime's ``FusedConv``), summed over the last profiled call. Convolution shares below the MAC share
point at what is not in the math: element-wise chains that did not fuse, layout reorders, narrow
convolutions (1 or 3 output channels) that waste vector lanes.
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
from nervkit.player.macs import macs_per_frame
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


def profile_openvino(pkg, feeds, precision: str, repeats: int) -> dict:
    backend = OpenVinoBackend(pkg, 1, "openvino", precision)
    backend._config["PERF_COUNT"] = True  # noqa: SLF001 - a profiling switch of this benchmark only
    ms = _median_ms(lambda: backend.run(feeds), repeats)
    ops = collections.Counter()
    for info in backend._request("float").profiling_info:  # noqa: SLF001
        ops[info.node_type] += info.real_time.total_seconds()
    backend.close()
    return {"ms_per_frame": ms, "op_share": _shares(ops)}


def profile_ort(pkg, feeds, repeats: int) -> dict:
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
    ops = collections.Counter()
    last_run = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_call = len(last_run) // 3
    for e in last_run[-per_call:]:
        ops[e["args"]["op_name"]] += e["dur"] * 1e-6
    return {"ms_per_frame": ms, "op_share": _shares(ops)}


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
            feeds = pkg.embeddings(0, 1)
            row = {"package": path, "family": pkg.family, "macs_per_frame": macs_per_frame(pkg),
                   "ort-cpu fp32": profile_ort(pkg, feeds, args.repeats)}
            for p in ("fp32", "bf16"):
                if p in ov_precisions:
                    row[f"openvino {p}"] = profile_openvino(pkg, feeds, p, args.repeats)
        print(json.dumps({k: v if not isinstance(v, dict) else {"ms": round(v["ms_per_frame"], 2),
                                                                 "top": dict(list(v["op_share"].items())[:5])}
                          for k, v in row.items()}), file=sys.stderr)
        out.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": describe(), "repeats": args.repeats,
                                               "packages": out}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

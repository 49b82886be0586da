"""OpenVINO's ``PERFORMANCE_HINT``, LATENCY against THROUGHPUT, on the official HNeRV bunny package.

    python benchmarks/bench_openvino_hint.py [--ckpt PATH] [--frames 8] [--batches 1,4] [--repeats 5]
        [--json benchmarks/results/openvino_hint_official.json]

The ``openvino`` backend compiles with ``PERFORMANCE_HINT=LATENCY`` (one stream, every core on one
request). ``THROUGHPUT`` splits the cores into streams and pays only when several requests run at
once, so four ways are timed: LATENCY with one synchronous request per batch (the backend before this
measurement), THROUGHPUT the same way (the hint switched alone), THROUGHPUT with OpenVINO's
``AsyncInferQueue`` of ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` requests fed whole batches, and ``backend``:
nervkit's ``openvino`` backend as built for that batch (when measured: THROUGHPUT for batches above 1,
a request per frame, one in flight per stream). Every (hint, precision, batch)
decodes ``--frames`` frames per round, all of them interleaved round by round; frames per second from
the median round. The package is built from the official checkpoint as ``bench_runtime_cpu.py`` does
(without a source: no guard is needed to time it).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov

from nervkit.export.cli import main as export
from nervkit.player.machine import describe
from nervkit.runtime import open_package
from nervkit.runtime.backends import precisions
from nervkit.runtime.backends.openvino import _HINTS, OpenVinoBackend, filled_graph

DEFAULT_CKPT = Path(__file__).resolve().parents[2] / "shared/data/hnerv-official/bunny-1.5m-quant_vid.pth"


def _runner(core, model, mode: str, precision: str, batches: list[dict]):
    """A callable decoding every batch once in ``mode`` (a hint, ``-async`` for the queue), and its number
    of infer requests."""
    hint = mode.removesuffix("-async")
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": _HINTS[precision],
                                                 "PERFORMANCE_HINT": hint})
    if not mode.endswith("-async"):
        request = compiled.create_infer_request()
        return (lambda: [request.infer(b) for b in batches]), 1
    queue = ov.AsyncInferQueue(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def run():
        for b in batches:
            queue.start_async(b)
        queue.wait_all()
    return run, len(queue)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", default=str(DEFAULT_CKPT), help="official HNeRV checkpoint")
    ap.add_argument("--frames", type=int, default=8, help="frames per round (default 8)")
    ap.add_argument("--batches", default="1,4", help="batches to time (default 1,4)")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    ap.add_argument("--json", default="benchmarks/results/openvino_hint_official.json")
    args = ap.parse_args(argv)
    core = ov.Core()
    tmp = tempfile.TemporaryDirectory()
    package = Path(tmp.name) / "bunny-official.nvpkg"
    if export([args.ckpt, "-o", str(package), "--eval-frames", "0"]):
        return 1
    pkg = open_package(package)
    model = core.read_model(io.BytesIO(filled_graph(pkg)))
    feeds = pkg.embeddings(0, args.frames)
    runs = []
    for precision in precisions("openvino"):
        for batch in map(int, args.batches.split(",")):
            batches = [{k: np.ascontiguousarray(v[a:a + batch]) for k, v in feeds.items()}
                       for a in range(0, args.frames, batch)]
            model.reshape({name: [batch, *v.shape[1:]] for name, v in feeds.items()})
            for hint in ("LATENCY", "THROUGHPUT", "THROUGHPUT-async", "backend"):
                if hint == "backend":
                    backend = OpenVinoBackend(pkg, batch, "openvino", precision)
                    run, requests = (lambda d=backend, bs=batches: [d.run(b) for b in bs]), len(
                        backend._pool("float", 1))  # noqa: SLF001
                else:
                    run, requests = _runner(core, model, hint, precision, batches)
                run()  # warm-up
                runs.append({"hint": hint, "precision": precision, "batch": batch, "requests": requests,
                             "run": run, "times": []})
    print(f"bench_openvino_hint: {len(runs)} runs x {args.repeats} rounds of {args.frames} frames", file=sys.stderr)
    for _ in range(args.repeats):
        for r in runs:
            t0 = time.perf_counter()
            r["run"]()
            r["times"].append(time.perf_counter() - t0)
    rows = [{k: r[k] for k in ("hint", "precision", "batch", "requests")}
            | {"fps": args.frames / float(np.median(r["times"])), "round_s": [round(t, 4) for t in r["times"]]}
            for r in runs]
    for r in rows:
        latency = next(x for x in rows if x["hint"] == "LATENCY" and x["precision"] == r["precision"]
                       and x["batch"] == r["batch"])
        r["vs_latency"] = r["fps"] / latency["fps"]
        print(f"{r['precision']:4s} batch {r['batch']:2d} {r['hint']:16s} requests {r['requests']}: "
              f"{r['fps']:.3f} FPS, x{r['vs_latency']:.2f} vs LATENCY", file=sys.stderr)
    pkg.close()
    tmp.cleanup()
    Path(args.json).write_text(json.dumps({
        "machine": describe(), "package": "official HNeRV bunny 1.5M, 640x1280",
        "settings": {"frames": args.frames, "repeats": args.repeats,
                     "timed": "every run interleaved per round; FPS of the median round"},
        "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

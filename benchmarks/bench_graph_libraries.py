"""Our graph passes against maintained libraries doing the same job, on every family's exported decoder.

    python benchmarks/bench_graph_libraries.py [--size 0.35] [--hw 160x320] [--repeats 3] [--json FILE]

- fp16: ``export/passes/fp16.py`` (``optimize_for(graph, target, "fp16")``) against onnxconverter-common's
  ``convert_float_to_float16(keep_io_types=True, op_block_list=KEEP_FP32)`` on the fp32 graph of each target.
  Measured: does the result pass ``onnx.checker`` and (ORT flavour) run in ONNX Runtime; its max abs error
  against the fp32 graph on the same inputs; Cast nodes added; Haar nodes (TensorRT flavour) left in fp16;
  conversion time.
- Clean-up: ``remove_unused`` + ``toposort`` (``export/passes/onnx_edit.py``) against onnx-graphsurgeon's
  ``cleanup().toposort()``, and onnxsim's ``simplify`` (which also folds constants: it renames the weights a
  package stores by name). Measured: nodes and initializers left, weight names kept, time.

Weights are random (the family at ``--size`` million parameters; the comparison does not depend on them).
The three libraries are not nervkit dependencies (ours were kept, see docs/export.md): to re-run,
``pip install onnxconverter-common==1.16.0 onnxsim==0.8.1 onnx-graphsurgeon==0.6.1``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

from nervkit.export.onnx_graph import export_decoder_onnx
from nervkit.export.passes.fp16 import KEEP_FP32, to_fp16
from nervkit.export.passes.onnx_edit import remove_unused, toposort
from nervkit.export.passes.pipeline import optimize_for
from nervkit.player.machine import describe
from nervkit.runtime.jsonout import write_json
from nervkit.trainer.registry import create_model

FAMILIES = ("hnerv", "snerv", "hfs-hnerv", "hfe-hnerv", "cf-nerv")


def _seconds(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def _run(graph: onnx.ModelProto, feeds: dict) -> np.ndarray:
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def _fp16_facts(graph: onnx.ModelProto, fp32: onnx.ModelProto, feeds, reference, seconds: float) -> dict:
    out = {"seconds": seconds, "casts_added": sum(n.op_type == "Cast" for n in graph.graph.node)
           - sum(n.op_type == "Cast" for n in fp32.graph.node)}
    try:
        onnx.checker.check_model(graph)
        out["checker"] = "ok"
    except Exception as err:  # the library's output is what is measured, whatever it raises
        out["checker"] = str(err).splitlines()[0][:160]
    haar = [n for n in graph.graph.node if n.domain == "nervkit"]
    if haar:
        types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(
            graph).graph.value_info}
        out["haar_inputs_fp16"] = all(types.get(n.input[0]) == onnx.TensorProto.FLOAT16 for n in haar)
    else:
        try:
            out["max_abs_error"] = float(np.abs(_run(graph, feeds) - reference).max())
        except Exception as err:  # a graph ONNX Runtime refuses is a result too
            out["ort"] = str(err).splitlines()[0][:160]
    return out


def bench_family(name: str, hw, size: float, repeats: int) -> dict:
    torch.manual_seed(0)
    model = create_model(name, hw, num_frames=132, size=size).eval()
    with torch.no_grad():
        embeds = model.encode(torch.rand(2, 3, *hw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = export_decoder_onnx(model, embeds)
    feeds = {k: embeds[k].numpy() for k in model.embed_names}
    result = {}
    reference = _run(optimize_for(raw, "ort"), feeds)
    from onnxconverter_common.float16 import convert_float_to_float16

    for target in ("ort", "trt"):
        fp32 = optimize_for(raw, target)

        def ours(g=fp32):
            return to_fp16(copy.deepcopy(g))

        def theirs(g=fp32):
            return convert_float_to_float16(copy.deepcopy(g), keep_io_types=True, op_block_list=sorted(KEEP_FP32))

        facts = {}
        for label, fn in (("nervkit", ours), ("onnxconverter_common", theirs)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds, converted = _seconds(fn, repeats)
            facts[label] = _fp16_facts(converted, fp32, feeds, reference, seconds)
        result[f"fp16_{target}"] = facts
    graph = optimize_for(raw, "ort", fold=False)  # the package's graph
    weights = set(model.decoder_state())

    def ours_cleanup(g=graph):
        g = copy.deepcopy(g)
        toposort(g)
        return remove_unused(g)

    def gs_cleanup(g=graph):
        import onnx_graphsurgeon as gs

        return gs.export_onnx(gs.import_onnx(copy.deepcopy(g)).cleanup().toposort())

    def sim(g=graph):
        import onnxsim

        return onnxsim.simplify(copy.deepcopy(g))[0]

    result["cleanup"] = {}
    for label, fn in (("nervkit", ours_cleanup), ("onnx_graphsurgeon", gs_cleanup), ("onnxsim", sim)):
        try:
            seconds, g = _seconds(fn, repeats)
        except Exception as err:  # the library's own failure is the measurement
            result["cleanup"][label] = {"error": str(err).splitlines()[0][:160]}
            continue
        inits = {i.name for i in g.graph.initializer}
        result["cleanup"][label] = {"seconds": seconds, "nodes": len(g.graph.node), "initializers": len(inits),
                                    "weights_kept_by_name": weights <= inits,
                                    "max_abs_error": float(np.abs(_run(g, feeds) - _run(graph, feeds)).max())}
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=0.35)
    ap.add_argument("--hw", default="160x320")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--json", default="benchmarks/results/bench_graph_libraries.json")
    args = ap.parse_args(argv)
    hw = tuple(int(v) for v in args.hw.split("x"))
    out = {"benchmark": "bench_graph_libraries", "size_m": args.size, "hw": list(hw), "machine": describe(),
           "families": {}}
    for name in args.families.split(","):
        print(f"{name} ...", file=sys.stderr)
        out["families"][name] = r = bench_family(name, hw, args.size, args.repeats)
        for key in ("fp16_ort", "fp16_trt", "cleanup"):
            print(f"  {key}: {r[key]}", file=sys.stderr)
    write_json(args.json, out)
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

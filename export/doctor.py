"""``nerv-doctor``: what this machine can run, and a self-test of each backend against the CPU reference.

Reports ONNX Runtime (version, providers), the GPU, TensorRT (version, whether the Haar plugin kernels are
compiled) and each decode backend: available or why not. Then every available backend decodes a tiny
wavelet decoder (``test-snerv``, untrained, seeded: it holds a Haar IDWT) and its output is compared with
eager PyTorch on the CPU (fp32 max abs error <= 1e-4). TensorRT is self-tested by building an engine with
the Haar plugins and running it. Human report on stderr, ``--json FILE`` ('-' = stdout) for machines.
Exit 0 when every self-test that could run passed, 1 when one failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings

import numpy as np

from ..runtime import backends
from ..runtime.atomic import scratch_folder
from ..runtime.errors import UserError, one_line
from ..runtime.jsonout import add_json_argument, check_json_target, write_json
from .tool import run_tool

TOLERANCE = 1e-4
SELF_TEST_MODEL = "test-snerv"


def _environment() -> dict:
    import onnxruntime as ort

    env = {"onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers(),
           "gpu": None, "tensorrt": None, "haar_plugin_kernels": None}
    try:
        from ..runtime.backends.trt import import_pycuda, import_tensorrt

        env["tensorrt"] = import_tensorrt().__version__
        env["gpu"] = import_pycuda().Device(0).name()
    except (UserError, Exception) as err:  # pycuda raises its own driver errors without a GPU
        env.setdefault("why_no_tensorrt", one_line(err, 200))
    from .trt.plugins import PTX

    env["haar_plugin_kernels"] = str(PTX) if PTX.exists() else "not compiled (export/trt/kernels/build.sh)"
    return env


def _reference():
    """A tiny seeded wavelet decoder, its inputs and its eager fp32 output."""
    import torch

    from ..trainer.registry import create_model

    torch.manual_seed(0)
    model = create_model(SELF_TEST_MODEL, (32, 64), 2).eval()
    with torch.no_grad():
        embeds = model.encode(model.clip_input(torch.rand(2, 3, 32, 64)))
        eager = model.decode(*(embeds[k] for k in model.embed_names)).numpy()
    return model, embeds, eager


def _self_test(name: str, model, embeds, eager) -> float:
    """Max abs error of backend ``name`` against eager PyTorch on the self-test decoder."""
    from .onnx_graph import export_decoder_onnx
    from .passes.pipeline import optimize_for

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = export_decoder_onnx(model, embeds)
    feeds = {k: embeds[k].numpy() for k in model.embed_names}
    if name == "trt":
        return _trt_error(optimize_for(raw, "trt"), feeds, eager)
    if name == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(ov.Core().read_model(io.BytesIO(
            optimize_for(raw, "ort").SerializeToString())), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return float(np.abs(compiled(feeds)[0] - eager).max())
    import onnxruntime as ort

    provider = {"ort-cpu": "CPUExecutionProvider", "ort-cuda": "CUDAExecutionProvider"}[name]
    sess = ort.InferenceSession(optimize_for(raw, "ort").SerializeToString(), providers=[provider])
    return float(np.abs(sess.run(None, feeds)[0] - eager).max())


def _trt_error(graph, feeds, eager) -> float:
    from ..runtime.backends.trt import TrtBackend, import_tensorrt
    from .trt.engine import build_engine
    from .trt.plugins import register_plugins

    import_tensorrt()
    register_plugins()
    engine = build_engine(graph, (1, len(eager), len(eager)))
    with scratch_folder("nerv-doctor-") as tmp:
        path = tmp / "selftest.engine"
        path.write_bytes(engine)
        backend = TrtBackend(path)
        try:
            return float(np.abs(backend.run(feeds) - eager).max())
        finally:
            backend.close()


def _status(entry: dict) -> str:
    if not entry["available"]:
        return "unavailable: " + entry["reason"]
    if "passed" not in entry:
        return "available"
    detail = (f"max abs error {entry['self_test_max_abs_error']:.2g}" if "self_test_max_abs_error" in entry
              else entry.get("error", ""))
    return f"self-test {'passed' if entry['passed'] else 'FAILED'} ({detail})"


def _main(argv) -> int:
    ap = argparse.ArgumentParser(prog="nerv-doctor", description=__doc__.splitlines()[0])
    add_json_argument(ap, "the report")
    ap.add_argument("--no-self-test", action="store_true", help="only report what is installed")
    args = ap.parse_args(argv)
    check_json_target(args.json)
    report = {"environment": _environment(), "backends": {}}
    for key, value in report["environment"].items():
        print(f"nerv-doctor: {key}: {value}", file=sys.stderr)
    reference = None if args.no_self_test else _reference()
    failed = False
    for name in backends.BACKENDS:
        why = backends.unavailable(name)
        entry = report["backends"][name] = {"available": why is None, "reason": why}
        if why is None and reference is not None:
            try:
                err = _self_test(name, *reference)
                entry.update(self_test_max_abs_error=err, passed=err <= TOLERANCE)
            except Exception as exc:  # a backend that fails its self-test is reported, not fatal
                entry.update(passed=False, error=one_line(exc, 300))
            failed |= not entry["passed"]
        print(f"nerv-doctor: backend {name}: {_status(entry)}", file=sys.stderr)
    if args.json:
        write_json(args.json, report)
    return 1 if failed else 0


def main(argv=None) -> int:
    return run_tool("nerv-doctor", _main, argv)


if __name__ == "__main__":
    sys.exit(main())

"""What nerv-bench ran on: a description of the machine and its measured peak FLOP/s.

The peak is measured, not looked up, per precision: the best of a few square matrix products (fp32:
numpy's BLAS and OpenVINO on the CPU, torch on a GPU; bf16/fp16: OpenVINO's MatMul with that
inference precision), the densest work a decoder's convolutions can hope to match. Achieved FLOP/s are
reported as a share of the peak of the row's precision. The CPU's model and its instruction-set flags
(AVX-512, VNNI, BF16, FP16, AMX) are recorded: they decide which precisions run natively.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys

import numpy as np
import onnxruntime

from nervkit.runtime.errors import UserError
from nervkit.runtime.timing import measure

PEAK_N = 2048
"""Matrix side of the probe: 2 * 2048^3 = 17.2 GFLOP per product, large enough to reach the plateau."""


FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse4", "vnni")
"""The /proc/cpuinfo flags recorded: the vector and matrix extensions that decide decode speed."""


def _cpuinfo(key: str) -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The CPU's vector/matrix instruction-set flags (``avx512_bf16``, ``amx_tile`` ...), sorted."""
    return sorted(f for f in (_cpuinfo("flags") or "").split() if f.startswith(FLAG_PREFIXES))


def describe(gpu_name: str | None = None) -> dict:
    """Plain-JSON machine description: CPU, cores, memory, load (other work skews timings), versions."""
    info = {"cpu": _cpu_name(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "numpy": np.__version__, "onnxruntime": onnxruntime.__version__}
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    except (OSError, ValueError, AttributeError):
        pass
    if importlib.util.find_spec("openvino") is not None:
        from importlib.metadata import version

        info["openvino"] = version("openvino")
    if "torch" in sys.modules:  # only when the eager baseline ran
        info["torch"] = sys.modules["torch"].__version__
    if gpu_name:
        info["gpu"] = gpu_name
    return info


def _openvino_matmul(n: int, precision: str):
    """A call running OpenVINO's CPU MatMul of two ``n x n`` matrices in ``precision``."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    a = ops.parameter([n, n], np.float32)
    model = ov.Model([ops.matmul(a, ops.constant(rng.random((n, n), dtype=np.float32)), False, False)], [a])
    hint = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}[precision]
    request = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                     "PERFORMANCE_HINT": "LATENCY"}).create_infer_request()
    x = rng.random((n, n), dtype=np.float32)
    return lambda: request.infer({0: x})


def peak_flops(device: str = "cpu", precision: str = "fp32", repeats: int = 3) -> dict:
    """Measured peak of ``device`` in ``precision``, FLOP/s: ``{"flops": ..., "method": ...}``."""
    if device != "cpu":  # a GPU needs a bigger product to fill it
        import torch

        n = 2 * PEAK_N
        a = torch.rand(n, n, device=device, dtype={"fp32": torch.float32, "bf16": torch.bfloat16,
                                                   "fp16": torch.float16}[precision])
        t = measure(lambda: a @ a, warmup=2, repeats=repeats, sync=torch.cuda.synchronize)
        return {"flops": 2 * n**3 / min(t.times_s),
                "method": f"torch on {device} {precision} matmul {n}x{n}, best of {repeats}"}
    n, probes = PEAK_N, {}
    if precision == "fp32":
        a = np.random.default_rng(0).random((n, n), dtype=np.float32)
        probes["numpy"] = lambda: a @ a
    if importlib.util.find_spec("openvino") is not None:
        probes["openvino"] = _openvino_matmul(n, precision)
    if not probes:
        raise UserError(f"measuring the CPU's {precision} peak needs the 'openvino' extra")
    best = {how: min(measure(fn, warmup=2, repeats=repeats).times_s) for how, fn in probes.items()}
    how = min(best, key=best.get)
    return {"flops": 2 * n**3 / best[how],
            "method": f"{how} {precision} matmul {n}x{n}, best of {repeats} (probes: {', '.join(best)})"}

"""What nerv-bench ran on: a description of the machine and its measured peak FLOP/s.

The peak is measured, not looked up: the best of a few square fp32 matrix products (numpy's BLAS on
the CPU, torch on a GPU), the densest work a decoder's convolutions can hope to match. Achieved
FLOP/s are reported as a share of it.
"""

from __future__ import annotations

import os
import platform
import sys

import numpy as np
import onnxruntime

from nervkit.runtime.timing import measure

PEAK_N = 2048
"""Matrix side of the probe: 2 * 2048^3 = 17.2 GFLOP per product, large enough to reach the plateau."""


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(gpu_name: str | None = None) -> dict:
    """Plain-JSON machine description: CPU, cores, memory, load (other work skews timings), versions."""
    info = {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "numpy": np.__version__, "onnxruntime": onnxruntime.__version__}
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    except (OSError, ValueError, AttributeError):
        pass
    if "torch" in sys.modules:  # only when the eager baseline ran
        info["torch"] = sys.modules["torch"].__version__
    if gpu_name:
        info["gpu"] = gpu_name
    return info


def peak_flops(device: str = "cpu", repeats: int = 3) -> dict:
    """Measured fp32 peak of ``device`` in FLOP/s: ``{"flops": ..., "method": ...}``."""
    if device == "cpu":
        n = PEAK_N
        a = np.random.default_rng(0).random((n, n), dtype=np.float32)
        sync, how = None, "numpy"
    else:  # a GPU needs a bigger product to fill it
        import torch

        n = 2 * PEAK_N
        a = torch.rand(n, n, device=device)
        sync, how = torch.cuda.synchronize, f"torch on {device}"
    t = measure(lambda: a @ a, warmup=2, repeats=repeats, sync=sync)
    return {"flops": 2 * n**3 / min(t.times_s), "method": f"{how} fp32 matmul {n}x{n}, best of {repeats}"}

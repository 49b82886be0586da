"""OpenVINO backend ``openvino`` (CPU): the package's ONNX graph compiled by OpenVINO, fp32 or bf16.

The graph's weights are external in the package; OpenVINO's ONNX reader cannot take them from memory,
so they are written into the graph's initializers (with ``onnx``, part of the ``openvino`` extra) and
the filled graph is read from memory. The precision is OpenVINO's ``INFERENCE_PRECISION_HINT``: ``bf16``
runs convolutions in bfloat16 with fp32 accumulation where the CPU has native bf16 (AVX512-BF16 or
AMX); ``fp16`` where it has AVX512-FP16 or AMX-FP16. The CPU plugin's ``OPTIMIZATION_CAPABILITIES``
says which: a precision the CPU would only emulate is not offered.

The frames' last steps (clamp to [0, 1], scale to 0..255, round half to even, cast to uint8, NCHW ->
NHWC) are appended to the compiled model with OpenVINO's pre/post-processing API for ``run_uint8``, so
they run inside OpenVINO's threads in one pass over the frame instead of as separate numpy passes.

``PERFORMANCE_HINT``, chosen by measurement (``benchmarks/bench_openvino_hint.py``,
``benchmarks/results/openvino_hint_official.json``, official bunny package, 2-core AVX-512 CPU):
``LATENCY`` (one stream, every core on one request) except fp32 at batches above 1, which uses
``THROUGHPUT`` (a stream per core) and runs every frame of a call as its own request, as many at once
as ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``, the streams decoding frames in parallel:
1.12-1.44x the frames per second of one LATENCY request per batch in fp32. In bf16 the same was
0.85x on a quiet CPU and 1.08-1.22x on a loaded one, so bf16 stays on LATENCY; THROUGHPUT with one request
at a time is slower in every precision (0.53-0.98x).

Static shapes: the package graph's batch dimension is dynamic; each call compiles (once, on first use)
the model for its number of frames (the batch, the last partial batch, or one frame per THROUGHPUT
request; at most two sizes kept). With a dynamic batch the CPU plugin does not fuse chains of
element-wise ops into its JIT ``Subgraph`` kernels, and runs each op as a pass over memory: the static
model decodes HFS-HNeRV in 0.72x and CF-NeRV in 0.85x the time, others within 3%
(``docs/precision.md``). ``Sin`` becomes a
polynomial those kernels fuse (``openvino_sin.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import io

import numpy as np

from ..errors import PackageError, UserError, one_line
from .openvino_sin import replace_sin

EXTRA_HINT = "install the 'openvino' extra (pip install 'nervkit[openvino]')"
_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_CAPABILITY = {"fp32": "FP32", "bf16": "BF16", "fp16": "FP16"}
_PARALLEL = ("fp32",)
"""Precisions that decode batches as parallel per-frame requests under THROUGHPUT (module docstring)."""
SIZES_KEPT = 2
"""Compiled call sizes kept per kind: a decode's full batches and its partial last batch (or a random-access
frame), so a loop compiles each once, while a caller of ever-new sizes holds at most two models' memory."""


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"backend 'openvino' needs {name.split('.')[0]}: {EXTRA_HINT}") from None


def unavailable(name: str) -> str | None:
    for module in ("openvino", "onnx"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {EXTRA_HINT}"
    return None


def precisions(name: str) -> tuple[str, ...]:
    """Precisions this CPU runs natively under OpenVINO, fastest first (``fp32`` always)."""
    caps = set(_import("openvino").Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    return tuple(p for p in ("bf16", "fp16") if _CAPABILITY[p] in caps) + ("fp32",)


def filled_graph(package) -> bytes:
    """The package's ONNX graph with every external initializer filled from ``package.weights()``."""
    onnx = _import("onnx")
    proto = onnx.load_from_string(package.graph_bytes())
    weights = package.weights()
    for init in proto.graph.initializer:
        if init.data_location != onnx.TensorProto.EXTERNAL:
            continue
        value = weights.get(init.name)
        if value is None or list(value.shape) != list(init.dims):
            raise PackageError(f"{package.path}: graph initializer {init.name!r} has no matching weight")
        init.data_location = onnx.TensorProto.DEFAULT
        del init.external_data[:]
        init.raw_data = np.ascontiguousarray(value, "<f4").tobytes()
    return proto.SerializeToString()


class OpenVinoBackend:
    """``run(feeds) -> float32 [n, 3, H, W]``; ``run_uint8(feeds) -> uint8 RGB [n, H, W, 3]``."""

    def __init__(self, package, batch: int, name: str, precision: str):
        ov = _import("openvino")
        self.name, self.precision = name, precision
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(io.BytesIO(filled_graph(package)))
        except RuntimeError as err:
            raise PackageError(f"{package.path}: decoder graph rejected by OpenVINO ({one_line(err, 200)})") from None
        replace_sin(self._model)
        inputs = [p.get_any_name() for p in self._model.inputs]
        if inputs != list(package.embed_names) or [o.get_any_name() for o in self._model.outputs] != ["frames"]:
            raise PackageError(f"{package.path}: decoder graph has inputs {inputs}, not {list(package.embed_names)}, "
                               "or an output other than 'frames'")
        self._config = {"INFERENCE_PRECISION_HINT": _HINTS[precision],
                        "PERFORMANCE_HINT": "THROUGHPUT" if batch > 1 and precision in _PARALLEL else "LATENCY"}
        self._requests = {}

    def _pool(self, kind: str, frames: int) -> list:
        """The infer requests of the float (``float``) or uint8 (``uint8``) model for calls of ``frames``
        frames each, compiled on first use: one per stream (one under LATENCY). At most
        :data:`SIZES_KEPT` call sizes of a kind stay compiled, the least recently used is dropped."""
        key = (kind, frames)
        if key in self._requests:
            self._requests[key] = self._requests.pop(key)  # most recently used last
        else:
            kept = [k for k in self._requests if k[0] == kind]
            for old in kept[:max(0, len(kept) - SIZES_KEPT + 1)]:
                del self._requests[old]
            model = self._static(frames)
            if kind == "uint8":
                model = self._uint8_model(model)
            compiled = self._core.compile_model(model, "CPU", self._config)
            count = max(1, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            self._requests[key] = [compiled.create_infer_request() for _ in range(count)]
        return self._requests[key]

    def _static(self, frames: int):
        """The model with its batch dimension fixed to ``frames`` (module docstring: static shapes)."""
        ov = _import("openvino")
        model = self._model.clone()
        model.reshape({p.get_any_name(): ov.PartialShape([frames, *list(p.get_partial_shape())[1:]])
                       for p in model.inputs})
        return model

    def _uint8_model(self, model):
        """``model`` with clamp, x255, round-half-to-even, cast to u8 and NCHW -> NHWC appended."""
        ov = _import("openvino")
        ops = _import("openvino.opset13")
        ppp = ov.preprocess.PrePostProcessor(model)
        out = ppp.output("frames")
        out.model().set_layout(ov.Layout("NCHW"))
        out.postprocess().custom(lambda node: ops.round(ops.clamp(ops.multiply(
            node, np.float32(255.0)), 0.0, 255.0), "half_to_even").output(0))
        out.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
        return ppp.build()

    def _infer(self, kind: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """One call: under LATENCY the whole batch in one request; under THROUGHPUT a request per frame, as
        many at once as there are streams, outputs in frame order. A failed request raises from ``wait``."""
        feeds = {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()}
        n = len(next(iter(feeds.values())))
        if self._config["PERFORMANCE_HINT"] == "LATENCY":
            request = self._pool(kind, n)[0]
            request.infer(feeds)
            return request.get_output_tensor(0).data.copy()  # the request's buffer is reused by the next call
        pool = self._pool(kind, 1)
        outs = []
        for start in range(0, n, len(pool)):
            wave = list(zip(pool, range(start, min(start + len(pool), n)), strict=False))
            for request, i in wave:
                request.start_async({k: v[i:i + 1] for k, v in feeds.items()})
            failed = None
            for request, _ in wave:  # every request of the wave ends before an error is raised
                try:
                    request.wait()
                    outs.append(request.get_output_tensor(0).data.copy())
                except RuntimeError as err:
                    failed = failed or err
            if failed is not None:
                raise failed
        return np.concatenate(outs)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self._infer("float", feeds)

    def run_uint8(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self._infer("uint8", feeds)

    def close(self) -> None:
        self._requests.clear()
        self._model = None


def create(package, batch: int, name: str, precision: str) -> OpenVinoBackend:
    return OpenVinoBackend(package, batch, name, precision)

"""ONNX Runtime backends: ``ort-cpu`` (always) and ``ort-cuda`` (onnxruntime-gpu and a CUDA GPU).

The package's graph holds its weights as external initializers; the decoded, dequantised weights are
handed to ONNX Runtime with ``SessionOptions.add_external_initializers`` (no file, no copy into a
protobuf). Full graph optimisation is on (constant folding, GELU fusion, NCHWc convolution layouts on
CPU). The session's inputs and output are checked against the manifest: a graph that wants anything
else is rejected before it runs.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from ..errors import PackageError, one_line

_PROVIDERS = {"ort-cpu": "CPUExecutionProvider", "ort-cuda": "CUDAExecutionProvider"}


def unavailable(name: str) -> str | None:
    if _PROVIDERS[name] in ort.get_available_providers():
        return None
    return "onnxruntime has no CUDA provider here: install the 'gpu' extra (onnxruntime-gpu) and a CUDA GPU"


def _dims_match(declared, expected) -> bool:
    """Symbolic (str/None) dims match anything; integer dims must be equal."""
    return len(declared) == len(expected) and all(
        not isinstance(d, int) or e is None or d == e for d, e in zip(declared, expected, strict=True))


def precisions(name: str) -> tuple[str, ...]:
    """ONNX Runtime runs the package's fp32 graph as it is."""
    return ("fp32",)


class OrtBackend:
    def __init__(self, package, batch: int, name: str):
        self.name, self.precision = name, "fp32"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        weights = package.weights()
        values = [ort.OrtValue.ortvalue_from_numpy(w) for w in weights.values()]
        opts.add_external_initializers(list(weights), values)
        self._keep_alive = (weights, values)  # ORT reads these buffers in place
        try:
            self.session = ort.InferenceSession(package.graph_bytes(), opts, providers=[_PROVIDERS[name]])
        except Exception as err:  # onnxruntime raises its own pybind exception types
            why = one_line(err, 200)
            raise PackageError(f"{package.path}: decoder graph rejected by ONNX Runtime ({why})") from None
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        if list(inputs) != list(package.embed_names) or not all(
                _dims_match(inputs[k], [None, *package.embed_shapes[k]]) for k in inputs):
            raise PackageError(f"{package.path}: decoder graph has unexpected inputs {inputs} "
                               f"(manifest: {dict(package.embed_shapes)})")
        outputs = self.session.get_outputs()
        if len(outputs) != 1 or outputs[0].name != "frames" or not _dims_match(
                outputs[0].shape, [None, 3, package.height, package.width]):
            raise PackageError(f"{package.path}: decoder graph output is not frames [N, 3, "
                               f"{package.height}, {package.width}]")

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            return self.session.run(["frames"], feeds)[0]
        except Exception as err:  # onnxruntime's own exception types: the graph failed on these inputs
            raise PackageError(f"decoder graph failed while decoding ({one_line(err, 200)})") from None

    def close(self) -> None:
        self.session = None


def create(package, batch: int, name: str, precision: str = "fp32") -> OrtBackend:
    return OrtBackend(package, batch, name)

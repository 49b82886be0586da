"""The eager PyTorch baseline (player/eager.py) against ONNX Runtime on the same graph and weights."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from test_play_cli import make_package

from nervkit.player.eager import EagerDecoder, EagerGraph
from nervkit.runtime import Decoder, UserError, open_package


def eager_vs_ort(path, frames: int) -> float:
    """Max |eager - ort-cpu| over ``frames`` frames of a package, float in [0, 1] units."""
    with open_package(path) as pkg, Decoder(pkg, backend="ort-cpu", batch=frames) as dec:
        ref = dec.decode_float(0, frames)
        out = EagerDecoder(pkg).run(pkg.embeddings(0, frames))
    assert out.shape == ref.shape and out.dtype == np.float32
    return float(np.abs(out - ref).max())


def test_hnerv_package_matches_ort(tmp_path):
    assert eager_vs_ort(make_package(tmp_path / "h.nvpkg"), 3) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("family", ["test-hfs-hnerv", "test-snerv", "test-hfe-hnerv", "test-cf-nerv"])
def test_every_family_matches_ort(tmp_path, family):
    # At their initial scale: with amplified random weights the deeper families turn chaotic, and fp32
    # rounding-order differences between two correct implementations grow past any useful tolerance.
    assert eager_vs_ort(make_package(tmp_path / "p.nvpkg", family, gain=1.0), 3) < 1e-5


def _graph(nodes, inits, x_shape):
    """A one-input ONNX model (opset 17) from nodes; ``inits`` are numpy arrays by name."""
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_wavelet_family_ops_match_ort():
    """The ops the wavelet/attention families add, on odd sizes, against ORT on the same graph."""
    rng = np.random.default_rng(0)
    i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    inits = {
        "w": rng.standard_normal((8, 4, 3, 3)).astype(np.float32),
        "b": rng.standard_normal(8).astype(np.float32),
        "wt": rng.standard_normal((8, 4, 2, 2)).astype(np.float32),
        "pads": i64(0, 0, 1, 0, 0, 0, 0, 1), "scales": np.array([1, 1, 2, 2], np.float32),
        "s0": i64(1), "e0": i64(7), "ax": i64(3), "st": i64(2), "shape": i64(0, 2, 4, -1),
        "split": i64(1, 1), "sq": i64(1), "idx": i64(1, 0, -1), "lo": np.array(-0.5, np.float32),
        "two": np.array(2.0, np.float32),
    }
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"),
        helper.make_node("Conv", ["p", "w", "b"], ["c"], pads=[1, 0, 1, 2], strides=[1, 1]),
        helper.make_node("ConvTranspose", ["c", "wt"], ["ct"], strides=[2, 2]),
        helper.make_node("Resize", ["ct", "", "scales"], ["r"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("AveragePool", ["r"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["ap"], ["lr"], alpha=0.2),
        helper.make_node("Slice", ["lr", "s0", "e0", "ax", "st"], ["sl"]),
        helper.make_node("Reshape", ["sl", "shape"], ["rs"]),
        helper.make_node("Split", ["rs", "split"], ["a", "bb"], axis=1),
        helper.make_node("Sin", ["a"], ["sa"]), helper.make_node("Cos", ["bb"], ["cb"]),
        helper.make_node("Concat", ["sa", "cb"], ["cat"], axis=1),
        helper.make_node("Gather", ["cat", "idx"], ["g"], axis=1),
        helper.make_node("Sigmoid", ["g"], ["sg"]),
        helper.make_node("ReduceMean", ["sg"], ["rm"], axes=[2], keepdims=1),
        helper.make_node("Sub", ["sg", "rm"], ["d"]),
        helper.make_node("Mod", ["d", "two"], ["m"], fmod=1),
        helper.make_node("Clip", ["m", "lo", ""], ["cl"]),
        helper.make_node("Unsqueeze", ["cl", "sq"], ["u"]),
        helper.make_node("Squeeze", ["u", "sq"], ["sqz"]),
        helper.make_node("Transpose", ["sqz"], ["t"], perm=[0, 1, 3, 2]),
        helper.make_node("Relu", ["t"], ["y"]),
    ]
    model = _graph(nodes, inits, [2, 4, 5, 7])
    x = rng.standard_normal((2, 4, 5, 7)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = session.run(None, {"x": x})[0]
    with torch.inference_mode():
        out = EagerGraph(model, {})(torch.from_numpy(x)).numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_unsupported_op_is_named():
    model = _graph([helper.make_node("Hardmax", ["x"], ["y"])], {}, [1, 3])
    with pytest.raises(UserError, match="Hardmax"):
        EagerGraph(model, {})

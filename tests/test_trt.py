"""TensorRT path: the TensorRT-flavoured graph (runs everywhere), nerv-export --trt without TensorRT, and
the engine / plugin-kernel tests that need TensorRT and a GPU (skipped with the reason elsewhere)."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
from tiny import tiny_model_pt

from nervkit.export.cli import main as export_main
from nervkit.export.haar_onnx import HAAR_DOMAIN, HAAR_MODES, dwt_reference, idwt_reference
from nervkit.export.trt.onnx_ops import TRT_ONNX_OPS

HAS_TRT = importlib.util.find_spec("tensorrt") is not None and importlib.util.find_spec("pycuda") is not None
needs_trt = pytest.mark.skipif(not HAS_TRT, reason="TensorRT and pycuda are not installed (no NVIDIA GPU "
                                                   "here; pip install 'nervkit[tensorrt]' on one)")


@pytest.fixture(scope="module")
def snerv_pt(tmp_path_factory):
    return tiny_model_pt(tmp_path_factory.mktemp("trt") / "model.pt", name="test-snerv", frames=2)


@pytest.mark.skipif(HAS_TRT, reason="checks the message shown where TensorRT is missing")
def test_export_trt_without_tensorrt_writes_the_trt_graph_and_exits_2(snerv_pt, tmp_path, capsys):
    out, graph_path = tmp_path / "clip.nvpkg", tmp_path / "trt.onnx"
    flags = ["--trt", "--precision", "fp16", "--onnx", str(graph_path)]
    code = export_main([str(snerv_pt), "-o", str(out), *flags])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "tensorrt is not installed" in err[-1] and "nervkit[tensorrt]" in err[-1]
    assert "Traceback" not in "\n".join(err)
    graph = onnx.load(graph_path)
    onnx.checker.check_model(graph)
    plugins = [n for n in graph.graph.node if n.domain == HAAR_DOMAIN]
    assert [n.op_type for n in plugins] == ["HaarIDWT"]  # SNeRV's IDWT, fused with its [0, 1] clamp
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in plugins[0].attribute}
    assert attrs == {"clamp": 1, "plugin_namespace": b"nervkit", "plugin_version": b"1"}
    assert {n.op_type for n in graph.graph.node if n.domain != HAAR_DOMAIN} <= TRT_ONNX_OPS
    conv = next(n for n in graph.graph.node if n.op_type == "Conv")
    weight = next(i for i in graph.graph.initializer if i.name == conv.input[1])
    assert weight.data_type == onnx.TensorProto.FLOAT16  # the precision is in the graph (strongly typed)


@needs_trt
def test_engine_builds_and_matches_eager(snerv_pt):
    from nervkit.export.doctor import _reference, _self_test

    assert _self_test("trt", *_reference()) <= 1e-4


@needs_trt
@pytest.mark.parametrize("mode", HAAR_MODES)
def test_haar_plugin_kernels_match_the_numpy_reference(mode):
    from nervkit.export.passes.pipeline import optimize_for
    from nervkit.export.trt.engine import build_engine
    from nervkit.export.trt.plugins import register_plugins
    from nervkit.runtime.backends.trt import TrtBackend

    x = np.random.default_rng(0).standard_normal((2, 3, 9, 14)).astype(np.float32)
    node_dwt = onnx.helper.make_node("HaarDWT", ["x"], ["ll", "high"], domain=HAAR_DOMAIN, mode=mode)
    node_idwt = onnx.helper.make_node("HaarIDWT", ["ll", "high"], ["y"], domain=HAAR_DOMAIN)
    graph = onnx.helper.make_graph(
        [node_dwt, node_idwt], "haar", [onnx.helper.make_tensor_value_info("x", 1, ["n", 3, 9, 14])],
        [onnx.helper.make_tensor_value_info("y", 1, ["n", 3, 10, 14])])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17),
                                                         onnx.helper.make_opsetid(HAAR_DOMAIN, 1)])
    register_plugins()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "haar.engine"
        path.write_bytes(build_engine(optimize_for(model, "trt"), (1, 2, 2)))
        backend = TrtBackend(path)
        y = backend.run({"x": x})
        backend.close()
    assert np.abs(y - idwt_reference(*dwt_reference(x, mode))).max() < 1e-5

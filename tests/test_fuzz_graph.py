"""Mutate the ONNX graph inside otherwise valid packages (ops, attributes, shapes, initializers) and play
each one: ``nerv-play`` exits 0 or 2, never with a traceback, in a process whose address space is capped."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from graph_edit import package_graph, with_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, numpy_helper
from test_nvpkg import make_tiny

CAP = 2 << 30  # bytes of address space for the player
WORKER = f"""
import contextlib, io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))
from nervkit.player.play import main
for line in sys.stdin:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main([line.strip(), "--no-window", "--batch", "2"])
        except SystemExit as exc:
            code = exc.code
    print(json.dumps({{"code": code, "err": err.getvalue()}}), flush=True)
"""
OPS = ["Identity", "Expand", "ConstantOfShape", "Tile", "MatMul", "Loop", "Resize", "Pad", "Conv", "Relu",
       "Reshape", "Concat", "Add", "DepthToSpace", "Split", "Gather", "NonZero"]
BIG = st.sampled_from([-1, 0, 1, 2, 3, 7, 64, 10**4, 10**9, 2**62])


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("gfuzz"), frames=3)[1].read_bytes()


@pytest.fixture(scope="module")
def player():
    proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


def _mutate(model, data) -> None:
    graph = model.graph
    kind = data.draw(st.sampled_from(["op", "attribute", "shape", "initializer", "io"]))
    if kind == "op":
        node = data.draw(st.sampled_from(list(graph.node)))
        node.op_type = data.draw(st.sampled_from(OPS))
    elif kind == "attribute":
        nodes = [n for n in graph.node if n.attribute]
        attr = data.draw(st.sampled_from(list(data.draw(st.sampled_from(nodes)).attribute)))
        if attr.ints:
            attr.ints[data.draw(st.integers(0, len(attr.ints) - 1))] = data.draw(BIG)
        elif attr.type == attr.INT:
            attr.i = data.draw(BIG)
        elif attr.type == attr.FLOAT:
            attr.f = data.draw(st.sampled_from([0.0, -1.0, 1e30, float("nan")]))
    elif kind == "shape":  # the int64 constants: reshape targets, split sizes, axes, pads
        ints = [t for t in graph.initializer if t.data_type == TensorProto.INT64]
        if ints:
            t = data.draw(st.sampled_from(ints))
            values = numpy_helper.to_array(t).copy().ravel()
            if values.size:
                values[data.draw(st.integers(0, values.size - 1))] = data.draw(BIG)
            t.CopyFrom(numpy_helper.from_array(values.reshape(numpy_helper.to_array(t).shape), t.name))
    elif kind == "initializer":
        t = data.draw(st.sampled_from(list(graph.initializer)))
        how = data.draw(st.sampled_from(["dims", "location", "truncate", "type"]))
        if how == "dims" and t.dims:
            t.dims[data.draw(st.integers(0, len(t.dims) - 1))] = data.draw(BIG)
        elif how == "location":
            del t.external_data[:]
            t.data_location = TensorProto.EXTERNAL
            t.external_data.add(key="location", value=data.draw(st.sampled_from(["x.bin", "../x", "/etc/passwd"])))
        elif how == "truncate":
            t.raw_data = t.raw_data[: len(t.raw_data) // 2]
        else:
            t.data_type = data.draw(st.sampled_from([TensorProto.STRING, TensorProto.DOUBLE, TensorProto.INT8]))
    else:
        vi = data.draw(st.sampled_from(list(graph.input) + list(graph.output)))
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[data.draw(st.integers(0, len(dims) - 1))].dim_value = max(1, abs(data.draw(BIG)))


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_graph_plays_or_is_refused(original, player, tmp_path_factory, data):
    model = package_graph(original)
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(model, data)
    path = tmp_path_factory.mktemp("m") / "m.nvpkg"
    path.write_bytes(with_graph(original, model.SerializeToString()))
    player.stdin.write(f"{path}\n")
    player.stdin.flush()
    line = player.stdout.readline()
    assert line, "the capped player process died"
    reply = json.loads(line)
    assert reply["code"] in (0, 2), reply["err"][-2000:]
    assert "Traceback" not in reply["err"]
    if reply["code"] == 2:
        assert reply["err"].strip().splitlines()[-1].startswith("nerv-play: error: ")
    path.unlink()

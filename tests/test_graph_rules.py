"""The graph rules (runtime/graph_rules.py): crafted graphs inside re-signed packages are refused before
any session exists, with exit 2, one line naming the rule and bounded memory; real packages pass."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from graph_edit import package_graph, with_graph
from onnx import TensorProto, helper, numpy_helper
from test_nvpkg import make_tiny
from tiny import tiny_loaded, tiny_tds

from nervkit.export.build import ExportOptions, build_package
from nervkit.runtime import Decoder, PackageError, open_package
from nervkit.runtime.graph_rules import ENHANCER_OPS, PACKAGE_OPS
from nervkit.trainer.registry import model_names

H, W = 32, 64
BOUNDED = 2 << 30  # address-space cap of the player process: the 2 GB


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("rules"), frames=3)[1].read_bytes()


def _append(data: bytes, nodes, inits=()) -> bytes:
    """Package ``data`` whose graph's ``frames`` is now computed by ``nodes`` from the old ``frames_pre``."""
    model = package_graph(data)
    for node in model.graph.node:
        node.output[:] = ["frames_pre" if o == "frames" else o for o in node.output]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(inits)
    return with_graph(data, model.SerializeToString())


def _external_leak() -> list:
    leak = TensorProto(name="leak", data_type=TensorProto.FLOAT, dims=[1, 3, H, W])
    leak.data_location = TensorProto.EXTERNAL
    leak.external_data.add(key="location", value="secret.bin")
    return [helper.make_node("Add", ["frames_pre", "leak"], ["frames"])], [leak]


def _constant_of_shape_bomb() -> tuple:
    shape = numpy_helper.from_array(np.array([10**9], np.int64), "bomb_shape")
    nodes = [helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb"]),
             helper.make_node("ReduceMean", ["bomb"], ["bomb_mean"], keepdims=1),
             helper.make_node("Add", ["frames_pre", "bomb_mean"], ["frames"])]
    return nodes, [shape]


def _expand_bomb() -> tuple:
    shape = numpy_helper.from_array(np.array([20000, 3, H, W], np.int64), "big_shape")
    nodes = [helper.make_node("Expand", ["frames_pre", "big_shape"], ["big"]),
             helper.make_node("ReduceMean", ["big"], ["frames"], axes=[0], keepdims=1)]
    return nodes, [shape]


def _resize_bomb() -> tuple:
    scales = numpy_helper.from_array(np.array([1, 1, 100, 100], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["frames_pre", "", "scales"], ["big"], mode="nearest"),
             helper.make_node("AveragePool", ["big"], ["frames"], kernel_shape=[100, 100], strides=[100, 100])]
    return nodes, [scales]


def _op_outside_allow_list() -> tuple:
    return [helper.make_node("Identity", ["frames_pre"], ["frames"])], []


def _big_constant() -> tuple:
    table = numpy_helper.from_array(np.zeros((1, 3, H, W * 1000), np.float32), "table")  # 24 MiB inline
    nodes = [helper.make_node("ReduceMean", ["table"], ["t"], keepdims=1),
             helper.make_node("Add", ["frames_pre", "t"], ["frames"])]
    return nodes, [table]


CRAFTED = {  # attack -> the rule that refuses it
    "external data by bare name": (_external_leak, "external-data"),
    "ConstantOfShape of 1e9": (_constant_of_shape_bomb, "ops"),
    "Expand to 20000 frames": (_expand_bomb, "ops"),
    "Resize x100": (_resize_bomb, "shapes"),
    "op outside the allow-list": (_op_outside_allow_list, "ops"),
    "24 MiB inline constant": (_big_constant, "constants"),
}


def _play_bounded(path, cwd) -> subprocess.CompletedProcess:
    """``nerv-play PATH --output out.y4m`` in a process whose address space is capped at BOUNDED bytes."""
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({BOUNDED}, {BOUNDED}))\n"
            "from nervkit.player.play import main\n"
            "sys.exit(main([sys.argv[1], '--output', 'out.y4m']))")
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.mark.parametrize("attack", list(CRAFTED))
def test_crafted_graph_is_refused(valid, tmp_path, attack):
    build, rule = CRAFTED[attack]
    (tmp_path / "secret.bin").write_bytes(np.full((3, H, W), 0.5, np.float32).tobytes())
    pkg = tmp_path / "crafted.nvpkg"
    pkg.write_bytes(_append(valid, *build()))
    proc = _play_bounded(pkg, tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and f"decoder graph refused ({rule})" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.nvpkg", "secret.bin"]  # no output


def test_graph_with_unexpected_inputs(valid):
    model = package_graph(valid)
    model.graph.input.append(helper.make_tensor_value_info("secret", TensorProto.FLOAT, [1]))
    with pytest.raises(PackageError, match=r"decoder graph refused \(io\): graph inputs"):
        open_package(with_graph(valid, model.SerializeToString()))


def test_nested_graph_is_refused(valid):
    body = helper.make_graph([helper.make_node("Identity", ["frames_pre"], ["y"])], "body", [],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    cond = numpy_helper.from_array(np.array(True), "cond")
    nodes = [helper.make_node("If", ["cond"], ["frames"], then_branch=body, else_branch=body)]
    with pytest.raises(PackageError, match=r"\((ops|nesting)\)"):
        open_package(_append(valid, nodes, [cond]))


@pytest.mark.parametrize("name", [n for n in model_names() if n.startswith("test-")])
def test_every_family_package_passes_the_rules(tmp_path, name):
    out = tmp_path / f"{name}.nvpkg"
    build_package(tiny_loaded(name, frames=3), out, ExportOptions(eval_frames=0))
    with open_package(out) as pkg:
        assert {n.op_type for n in onnx.ModelProto.FromString(pkg.graph_bytes()).graph.node} <= PACKAGE_OPS
        with Decoder(pkg, backend="ort-cpu", batch=3) as dec:
            assert dec.decode_float().shape == (3, 3, H, W)


def test_max_memory_refuses_and_can_be_raised(valid, tmp_path, capsys):
    from nervkit.player.play import main as play_main

    pkg = tmp_path / "v.nvpkg"
    pkg.write_bytes(valid)
    assert play_main([str(pkg), "--no-window", "--max-memory", "100K"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-memory" in err[0] and "needs about" in err[0]
    assert play_main([str(pkg), "--no-window", "--max-memory", "1G"]) == 0


@pytest.fixture(scope="module")
def enhancer_pkg(tmp_path_factory):
    """A TDS package (gop plan): the tiny enhancer's graph, as ``nerv-export tds.pt`` writes it."""
    pytest.importorskip("av")
    from nervkit.export.cli import main as export_main

    d = tmp_path_factory.mktemp("tds")
    assert export_main([str(tiny_tds(d / "tds.pt")), "-o", str(d / "clip.nvpkg")]) == 0
    return (d / "clip.nvpkg").read_bytes()


def test_enhancer_graph_passes_its_rules(enhancer_pkg):
    """The real enhancer graph holds exactly the enhancer flavour's ops (the list has nothing it does not
    emit) and passes every rule at the decoder's batch; its widest tensor stays inside the bound."""
    assert {n.op_type for n in package_graph(enhancer_pkg).graph.node} == ENHANCER_OPS
    with open_package(enhancer_pkg) as pkg:
        assert pkg.plan.graph_flavour == "enhancer"
        facts = pkg.check_graph(4)
        assert 0 < facts.largest <= 4 * 384 * 3 * H * W


@pytest.mark.parametrize("package, op", [("enhancer", "Clip"), ("per-frame", "Softmax")])
def test_each_flavour_refuses_the_others_ops(valid, enhancer_pkg, tmp_path, package, op):
    """An op of the other flavour's list (``Clip`` is a per-frame decoder's, ``Softmax`` the enhancer's)
    appended to a package's graph: nerv-play exits 2 with one line naming the ops rule."""
    data = enhancer_pkg if package == "enhancer" else valid
    assert (op in PACKAGE_OPS) != (op in ENHANCER_OPS)
    pkg = tmp_path / "crafted.nvpkg"
    pkg.write_bytes(_append(data, [helper.make_node(op, ["frames_pre"], ["frames"])]))
    proc = _play_bounded(pkg, tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and f"decoder graph refused (ops): op {op} is not" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.nvpkg"]

"""The rules a decoder graph from a package must pass before any inference session sees it.

A ``.nvpkg`` is untrusted input, and its ONNX graph is a program: ONNX Runtime would read files named
by external data, allocate whatever a ``ConstantOfShape`` asks for, and run any op it knows. Every
graph is therefore checked first, with only ``onnx``'s parser and static shape inference (nothing is
allocated from a declared size, nothing runs):

1. ``format``: it parses as one ONNX model, opset 13..``MAX_OPSET`` of the standard domain only;
2. ``ops``: every node's op is in the allow-list of the graph's flavour (:data:`FLAVOURS`: what
   nervkit's exporters emit for that kind of graph), in the standard domain;
3. ``nesting``: no local functions, no graph-valued attributes (``If``/``Loop``/``Scan`` bodies),
   no attribute references, no sparse tensors, no string tensors;
4. ``external-data``: the only external data are the package's own weights, location ``nvpkg:weights``,
   each named in the manifest with the same shape; every manifest weight is one of them;
5. ``constants``: inline initializers and ``Constant`` values hold at most :data:`MAX_CONSTANT_BYTES`;
6. ``io``: the inputs and outputs are exactly those the caller names, with their shapes;
7. ``shapes``: with the batch fixed, static shape inference gives every tensor a fully known shape of
   at most ``batch x`` the flavour's values per sample ``x`` (values of one output sample) elements,
   so no ``Resize`` (or any op) can grow past what the frame size implies.

:func:`check_graph` applies them to one graph (a decoder made of several graphs calls it per graph)
and returns the :class:`GraphFacts` the memory estimate uses. A refusal is a ``PackageError`` whose
one line names the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import PackageError

MIN_OPSET, MAX_OPSET = 13, 21
MAX_VALUES_PER_SAMPLE = 128
"""Largest intermediate tensor, in values per value of the graph's output for one sample (a frame's
``3 x H x W``): room for feature maps 384 channels wide at full resolution; nervkit's families use
at most about 20 at their default sizes."""
MAX_CONSTANT_BYTES = 16 << 20
"""Largest total of inline initializers and ``Constant`` values (16 MiB); weights come from the
package's coded weight stream, so a graph's own constants are shape vectors and small tables (kB)."""
WEIGHTS_LOCATION = "nvpkg:weights"

PACKAGE_OPS = frozenset({
    "Add", "AveragePool", "Cast", "Clip", "Concat", "Conv", "ConvTranspose", "Cos", "DepthToSpace", "Div", "Erf",
    "Exp", "Gather", "LeakyRelu", "Mul", "Pad", "ReduceMean", "Relu", "Reshape", "Resize", "Sigmoid", "Sin", "Split",
    "Squeeze", "Sub", "Tanh", "Unsqueeze",
    "Abs", "Atan", "Less", "MatMul", "Max", "Sqrt", "Transpose", "Where",
})
"""Ops of the graphs ``nerv-export`` stores: ``optimize_for(..., "ort", fold=False)`` over every
registered family (Haar transforms lowered to standard ops; ``Pad`` for odd frame sides; ``Exp`` for
sigmoid gates written as ``1 / (1 + exp(-z))``, ``export/passes/exp_gates.py``; the second
row: constant expressions of package weights, folded at load: the harmonic activation's amplitude and
phase, the row kernels of split narrow convolutions, 1x1 convolutions merged into their sources)."""
ENHANCER_OPS = frozenset({
    "Add", "AveragePool", "Concat", "Conv", "DeformConv", "Div", "Gather", "LeakyRelu", "MatMul", "MaxPool", "Mul",
    "ReduceMean", "Relu", "Reshape", "Resize", "Sigmoid", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Transpose",
    "Unsqueeze",
})
"""Ops of the TDS enhancer graph a ``gop`` plan runs (``export/tds_onnx.py``, opset 19, shape-static but
for the batch): PCD's ``DeformConv``, MTA's per-pixel attention (``MatMul``, ``Softmax``, ``Transpose``;
adaptive LayerNorm's ``Sqrt``) and PSA's ``MaxPool``, with the convolutional ops of the other graphs."""
ENHANCER_VALUES_PER_SAMPLE = 384
"""The enhancer's widest tensors per output value: MTA's concatenation of 3 scales x 3 frames x C channels
and its ``[pixels, 3 frames, 3C]`` query/key/value projection, ``9C`` per pixel against 3 output values,
``3C`` = 384 at the paper's width (C = 128)."""


@dataclass(frozen=True)
class Flavour:
    """What one kind of package graph may hold."""

    ops: frozenset[str]
    """The op allow-list (standard domain)."""
    values_per_sample: int
    """Largest tensor, in values per value of one output sample."""


FLAVOURS = {"per-frame": Flavour(PACKAGE_OPS, MAX_VALUES_PER_SAMPLE),
            "enhancer": Flavour(ENHANCER_OPS, ENHANCER_VALUES_PER_SAMPLE)}
"""Per graph flavour, keyed by the decode plan step that runs the graph (``nervkit.runtime.plan``): a
per-frame decoder, or the enhancer of a ``gop`` plan. A flavour never widens another's list."""

_FLOAT_TYPES = {1: 4, 10: 2, 11: 8, 16: 2}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16 -> bytes
_ELEM_BYTES = {**_FLOAT_TYPES, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 12: 4, 13: 8}


@dataclass(frozen=True)
class GraphFacts:
    """What the memory estimate needs from a checked graph, at the batch it was checked for."""

    batch: int
    largest: int
    """Elements of the largest tensor."""
    working_set: int
    """Bytes of the three largest tensors (a node's inputs and output alive at once), float32."""
    constant_bytes: int
    """Bytes of inline initializers and ``Constant`` values."""


def _refuse(rule: str, detail: str) -> PackageError:
    return PackageError(f"decoder graph refused ({rule}): {detail}")


def _tensor_bytes(t) -> int:
    if any(d < 0 for d in t.dims):
        raise _refuse("constants", f"tensor {t.name!r} has negative dimensions")
    if t.data_type not in _ELEM_BYTES:
        raise _refuse("nesting", f"tensor {t.name!r} has element type {t.data_type}, not a number type")
    return math.prod(t.dims) * _ELEM_BYTES[t.data_type]


def _check_nodes(graph, allowed: frozenset[str]) -> int:
    """Rules ops, nesting and the constants of ``Constant`` nodes; returns those constants' bytes."""
    total = 0
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in allowed:
            op = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
            raise _refuse("ops", f"op {op} is not one nervkit's exporters emit")
        for a in node.attribute:
            if a.ref_attr_name or a.HasField("g") or a.graphs or a.HasField("sparse_tensor") or a.sparse_tensors:
                raise _refuse("nesting", f"{node.op_type} node {node.name!r} has a subgraph, sparse or "
                                         "referenced attribute")
            for t in ([a.t] if a.HasField("t") else []) + list(a.tensors):
                if t.data_location == 1 or len(t.external_data):
                    raise _refuse("external-data", f"constant {t.name or node.name!r} has external data")
                total += _tensor_bytes(t)
            total += 8 * len(a.ints) + 4 * len(a.floats) + sum(len(s) for s in a.strings)
    return total


def _check_initializers(graph, weights: dict[str, tuple[int, ...]]) -> int:
    """Rules external-data and constants for initializers; returns inline bytes."""
    if len(graph.sparse_initializer):
        raise _refuse("nesting", "the graph has sparse initializers")
    inline, external = 0, set()
    for t in graph.initializer:
        if t.data_location == 1 or len(t.external_data):
            where = {e.key: e.value for e in t.external_data}
            if where.get("location") != WEIGHTS_LOCATION or not set(where) <= {"location", "offset", "length"}:
                raise _refuse("external-data", f"initializer {t.name!r} reads external data from "
                                               f"{where.get('location', '?')!r}; only {WEIGHTS_LOCATION} is allowed")
            if t.name not in weights or tuple(t.dims) != tuple(weights[t.name]) or t.data_type != 1:
                raise _refuse("external-data", f"initializer {t.name!r} is not a package weight of its shape")
            external.add(t.name)
        else:
            inline += _tensor_bytes(t)
    missing = set(weights) - external
    if missing:
        raise _refuse("external-data", f"package weight {sorted(missing)[0]!r} is not an external initializer "
                                       "of the graph")
    return inline


def _dims(value_info) -> list[int | None]:
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        return [None]
    return [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]


def _fix_inputs(graph, inputs: dict[str, tuple[int, ...]], batch: int) -> None:
    names = [i.name for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if names != list(inputs):
        raise _refuse("io", f"graph inputs {names} are not {list(inputs)}")
    for vi in graph.input:
        if vi.name in inputs:
            want = [batch, *inputs[vi.name]]
            dims = vi.type.tensor_type.shape.dim
            if len(dims) != len(want) or any(d.HasField("dim_value") and d.dim_value != w
                                              for d, w in zip(dims, want, strict=True)):
                raise _refuse("io", f"input {vi.name} has shape {_dims(vi)}, the manifest says [N, "
                                    f"{', '.join(map(str, inputs[vi.name]))}]")
            for d, w in zip(dims, want, strict=True):
                d.ClearField("dim_param")
                d.dim_value = w


_FOLD_OPS = {"Cast", "Concat", "Gather", "Reshape", "Squeeze", "Unsqueeze", "Add", "Sub", "Mul", "Div"}
_FOLD_MAX = 64  # elements: shape vectors and scales, not data


def _fold_shape_constants(graph) -> None:
    """Evaluate (with onnx's reference ops) nodes of :data:`_FOLD_OPS` whose inputs are all small inline
    constants, and make their outputs initializers: shape inference propagates values only through
    ``Shape``, so a ``Resize`` whose sizes are a ``Concat`` of constants would otherwise stay unknown."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    known = {t.name: t for t in graph.initializer
             if t.data_location != 1 and not t.external_data and math.prod(t.dims) <= _FOLD_MAX}
    keep = []
    for node in graph.node:
        ins = [i for i in node.input if i]
        if node.op_type in _FOLD_OPS and ins and all(i in known for i in ins):
            try:
                feeds = {i: numpy_helper.to_array(known[i]) for i in ins}
                outs = ReferenceEvaluator(node).run(None, feeds)
            except Exception:  # an op the reference cannot evaluate on these values: leave it to inference
                outs = None
            if outs is not None and all(o.size <= _FOLD_MAX for o in outs):
                for name, value in zip(node.output, outs, strict=True):
                    known[name] = numpy_helper.from_array(value, name)
                    graph.initializer.append(known[name])
                continue
        keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


def check_graph(graph_bytes: bytes, *, inputs: dict[str, tuple[int, ...]], outputs: dict[str, tuple[int, ...]],
                weights: dict[str, tuple[int, ...]], batch: int = 1, flavour: str = "per-frame") -> GraphFacts:
    """Apply the module's rules to one ONNX graph; return its :class:`GraphFacts` or raise ``PackageError``.

    ``inputs`` / ``outputs``: name -> per-sample shape (the batch axis, first, is left out);
    ``weights``: name -> shape of the package weights the graph reads as ``nvpkg:weights`` external data;
    ``batch``: the batch the graph will run at (shapes are inferred for it); ``flavour``: a key of
    :data:`FLAVOURS`.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.ModelProto.FromString(graph_bytes)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise _refuse("format", f"not an ONNX model ({str(err)[:100]})") from None
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    if set(opsets) != {"ai.onnx"} or not MIN_OPSET <= opsets["ai.onnx"] <= MAX_OPSET:
        raise _refuse("format", f"opsets {opsets}; want the standard domain at {MIN_OPSET}..{MAX_OPSET}")
    if len(model.functions):
        raise _refuse("nesting", "the model defines local functions")
    graph = model.graph
    rules = FLAVOURS[flavour]
    constant_bytes = _check_nodes(graph, rules.ops) + _check_initializers(graph, weights)
    if constant_bytes > MAX_CONSTANT_BYTES:
        raise _refuse("constants", f"{constant_bytes:,} bytes of inline constants; at most {MAX_CONSTANT_BYTES:,}")
    if [o.name for o in graph.output] != list(outputs):
        raise _refuse("io", f"graph outputs {[o.name for o in graph.output]} are not {list(outputs)}")
    _fix_inputs(graph, inputs, batch)
    _fold_shape_constants(graph)
    del graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as err:  # onnx raises InferenceError, ValidationError, RuntimeError
        raise _refuse("shapes", f"shape inference failed ({str(err).splitlines()[0][:150]})") from None
    known = {vi.name: _dims(vi) for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    limit = batch * rules.values_per_sample * max(math.prod(s) for s in outputs.values())
    sizes = []
    for node in inferred.graph.node:
        for name in node.output:
            dims = known.get(name, [None])
            if None in dims:
                raise _refuse("shapes", f"{node.op_type} output {name!r} has no static shape")
            size = math.prod(dims)
            if size > limit:
                raise _refuse("shapes", f"{node.op_type} output {name!r} has {size:,} elements; the frame size "
                                        f"and batch allow {limit:,}")
            sizes.append(size)
    for name, shape in outputs.items():
        if known.get(name) != [batch, *shape]:
            raise _refuse("io", f"output {name} has shape {known.get(name)}, want {[batch, *shape]}")
    sizes.sort()
    return GraphFacts(batch=batch, largest=sizes[-1] if sizes else 0, working_set=4 * sum(sizes[-3:]),
                      constant_bytes=constant_bytes)

"""Pass: a 1x1 convolution of a channel concatenation as a sum of convolutions, merged into their sources.

CF-NeRV's FARM fuses its two bands with ``Conv1x1([DilatedConv3(F_low), F_high])`` (Eq. 6): the
concatenation is one more full-size copy (a reference kernel in OpenVINO's bf16 path). A convolution is
linear in its input channels, so with ``W = [W_1 | ... | W_n]`` split along its input axis::

    Conv(Concat(a_1, ..., a_n), W, b) = Conv(a_1, W_1, b) + Conv(a_2, W_2) + ... + Conv(a_n, W_n)

and the backends fuse each addition into the next convolution's output stage. Only 1x1 convolutions
(unit stride, no padding) are split: a wider kernel split over narrower inputs may run slower. When
``a_i`` is read only here and made by a single-group convolution
``A``, the two compose into one with ``A``'s geometry: ``K[o] = sum_m W_i[o, m] A[m]``, bias
``W_i b_A`` (FARM's dilated low-band conv and its half of the 1x1 fuse become one dilated conv). The
split weights and the merged kernel are constant expressions of the package weights (``Split``,
``Reshape``, ``MatMul``; folded by the backends at load). Float sums reorder, nothing else changes.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, attr, consumers, fresh_name, producers, replace, shapes


def _one_by_one(node: onnx.NodeProto, w: list) -> bool:
    return (w[2:] == [1, 1] and not any(attr(node, "pads", [0, 0, 0, 0]))
            and all(s == 1 for s in attr(node, "strides", [1, 1])))


def _merge_1x1(model, hint: str, w_part: str, o: int, source: onnx.NodeProto, known
               ) -> tuple[list, onnx.NodeProto]:
    """Nodes for ``Conv_{w_part} o source`` (``w_part``: ``[o, m, 1, 1]``) as one conv with ``source``'s
    geometry (module docstring)."""
    k = known[source.input[1]]
    m = k[0]
    names = {n: fresh_name(model, f"{hint}/{n}") for n in ("w2d", "a2d", "k2d", "kernel", "bcol", "wb", "bias")}
    shape = {n: add_const(model, f"{hint}/{n}_shape", np.array(v, np.int64)) for n, v in (
        ("w2d", [o, m]), ("a2d", [m, int(np.prod(k[1:]))]), ("kernel", [o, *k[1:]]), ("bcol", [m, 1]), ("bias", [o]))}
    nodes = [
        helper.make_node("Reshape", [w_part, shape["w2d"]], [names["w2d"]]),
        helper.make_node("Reshape", [source.input[1], shape["a2d"]], [names["a2d"]]),
        helper.make_node("MatMul", [names["w2d"], names["a2d"]], [names["k2d"]]),
        helper.make_node("Reshape", [names["k2d"], shape["kernel"]], [names["kernel"]]),
    ]
    inputs = [source.input[0], names["kernel"]]
    if len(source.input) > 2 and source.input[2]:
        nodes += [helper.make_node("Reshape", [source.input[2], shape["bcol"]], [names["bcol"]]),
                  helper.make_node("MatMul", [names["w2d"], names["bcol"]], [names["wb"]]),
                  helper.make_node("Reshape", [names["wb"], shape["bias"]], [names["bias"]])]
        inputs.append(names["bias"])
    for n in nodes:
        n.name = n.output[0]
    merged = helper.make_node("Conv", inputs, [fresh_name(model, f"{hint}/merged")], name=f"{hint}/merged")
    merged.attribute.extend(source.attribute)
    return nodes, merged


def split_concat_conv(model: onnx.ModelProto) -> onnx.ModelProto:
    """Split every single-group 1x1 Conv of a channel Concat read by it alone (module docstring)."""
    while True:
        made, users, known = producers(model), consumers(model), shapes(model)
        found = None
        for conv in (n for n in model.graph.node if n.op_type == "Conv" and attr(n, "group", 1) == 1):
            cat = made.get(conv.input[0])
            w = known.get(conv.input[1])
            if (cat is not None and cat.op_type == "Concat" and attr(cat, "axis") == 1 and w and None not in w
                    and _one_by_one(conv, w)
                    and len(users[cat.output[0]]) == 1
                    and all(known.get(t) and known[t][1] for t in cat.input)):
                found = conv, cat, w
                break
        if found is None:
            return model
        conv, cat, w = found
        hint = conv.name or "concat_conv"
        widths = [known[t][1] for t in cat.input]
        parts = [fresh_name(model, f"{hint}/w{i}") for i in range(len(widths))]
        nodes = [helper.make_node("Split", [conv.input[1], add_const(model, f"{hint}/widths",
                                                                   np.array(widths, np.int64))],
                                  parts, name=f"{hint}/split", axis=1)]
        old, total, last, plain, merged = [conv, cat], None, None, [], []
        for i, (a, part) in enumerate(zip(cat.input, parts, strict=True)):
            source = made.get(a)
            if (source is not None and source.op_type == "Conv"
                    and attr(source, "group", 1) == 1 and len(users[a]) == 1):
                extra, term = _merge_1x1(model, f"{hint}/{i}", part, w[0], source, known)
                nodes += extra
                old.append(source)
                merged.append(term)
            else:
                term = helper.make_node("Conv", [a, part], [fresh_name(model, f"{hint}/part{i}")],
                                        name=f"{hint}/part{i}")
                term.attribute.extend(conv.attribute)
                plain.append(term)
            nodes.append(term)
            if total is not None:
                out = fresh_name(model, f"{hint}/sum{i}")
                nodes.append(helper.make_node("Add", [total, term.output[0]], [out], name=out))
            last = nodes[-1]
            total = last.output[0]
        if len(conv.input) > 2 and conv.input[2]:  # the bias joins one term
            if plain:
                plain[0].input.append(conv.input[2])
            else:
                term = merged[0]
                if len(term.input) == 2:
                    term.input.append(conv.input[2])
                else:
                    both = fresh_name(model, f"{hint}/bias")
                    nodes.append(helper.make_node("Add", [term.input[2], conv.input[2]], [both], name=both))
                    term.input[2] = both
        last.output[0] = conv.output[0]
        replace(model, old, nodes)

"""OpenVINO's ``Sin`` as a range-reduced polynomial that the CPU plugin compiles into its fused kernels.

OpenVINO 2026.4's CPU plugin runs ``Sin`` with a scalar reference kernel (``Math``, ``ref_any_f32``),
with a reorder to fp32 before it and one back after in bf16: on HFE-HNeRV, whose harmonic activation
is one ``Sin`` after every up-sampling stage, that was about half of the decode time
(``docs/precision.md``). Multiplies, adds and ``Floor`` are element-wise ops its code generator
(snippets) fuses into one JIT ``Subgraph`` node, so the same function written with them costs about
what a ``Relu`` costs. The graph stays the package's; only the loaded OpenVINO model changes, so
ONNX Runtime and TensorRT, whose ``Sin`` is vectorised, keep it.

The function, for every float ``x``::

    k = floor(x / pi + 1/2)                   nearest multiple of pi
    r = (x - k P1) - k P2                     Cody-Waite: P1 = 3.140625 (8 bits, so k P1 is exact for
                                              |k| < 2^16) and P2 = pi - P1 rounded to fp32; r in [-pi/2, pi/2]
    sin x = (-1)^k sin r,   (-1)^k = 1 - 2 (k - 2 floor(k / 2))
    sin r = r + r^3 sum_{j=1..6} (-1)^j r^(2j-2) / (2j+1)!   (Taylor to r^13: truncation below 1e-9
                                              on [-pi/2, pi/2], under half an fp32 ulp of sin r)

so its error against the exact sine is that of the fp32 arithmetic: ``tests/test_openvino_sin.py``
measures it against float64 ``numpy.sin`` over ``|x| <= 1000`` (the harmonic activation's arguments are
a few units). ``inf`` and ``nan`` give ``nan``, as ``Sin`` does.
"""

from __future__ import annotations

import math

import numpy as np

P1 = np.float32(3.140625)
P2 = np.float32(math.pi - 3.140625)
TAYLOR = tuple(np.float32((-1) ** j / math.factorial(2 * j + 1)) for j in range(1, 7))
"""Coefficients of ``r^3, r^5, ..., r^13`` in the Taylor series of ``sin r``."""


def sine(ops, x):
    """``sin(x)`` element-wise from ``Multiply``/``Add``/``Subtract``/``Floor`` (module docstring);
    ``ops`` is ``openvino.opset13``, ``x`` an fp32 output of any shape."""
    def const(value):
        return ops.constant(np.float32(value))

    k = ops.floor(ops.add(ops.multiply(x, const(1 / math.pi)), const(0.5)))
    r = ops.subtract(ops.subtract(x, ops.multiply(k, const(P1))), ops.multiply(k, const(P2)))
    odd = ops.subtract(k, ops.multiply(ops.floor(ops.multiply(k, const(0.5))), const(2.0)))
    sign = ops.subtract(const(1.0), ops.multiply(odd, const(2.0)))
    r2 = ops.multiply(r, r)
    poly = const(TAYLOR[-1])
    for coefficient in reversed(TAYLOR[:-1]):
        poly = ops.add(ops.multiply(poly, r2), const(coefficient))
    sin_r = ops.add(r, ops.multiply(ops.multiply(poly, r2), r))
    return ops.multiply(sin_r, sign)


def replace_sin(model) -> int:
    """Replace every fp32 ``Sin`` of the OpenVINO ``model`` (in place) by :func:`sine`; returns how many."""
    import openvino as ov
    import openvino.opset13 as ops

    count = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != "Sin" or node.get_output_element_type(0) != ov.Type.f32:
            continue
        node.output(0).replace(sine(ops, node.input_value(0)).output(0))
        count += 1
    if count:
        model.validate_nodes_and_infer_types()
    return count

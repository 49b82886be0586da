"""The openvino backend's ``Sin`` (a range-reduced polynomial, ``runtime/backends/openvino_sin.py``) against
float64 ``numpy.sin``: the error of fp32 arithmetic, at most ``MAX_ERR`` = 3e-7 over ``|x| <= 1000``
(measured 1.1e-7, and 1.9e-7 up to 1e5; one fp32 ulp of 1.0 is 1.2e-7), and ``nan`` for
``inf``/``nan`` as ``Sin`` gives."""

from __future__ import annotations

import numpy as np
import pytest

from nervkit.runtime import available_backends

pytestmark = pytest.mark.skipif("openvino" not in available_backends(),
                                reason="the openvino extra is not installed")
MAX_ERR = 3e-7


def _compiled_sine(n: int):
    import openvino as ov
    import openvino.opset13 as ops

    from nervkit.runtime.backends.openvino_sin import replace_sin

    x = ops.parameter([n], ov.Type.f32, name="x")
    model = ov.Model([ops.sin(x)], [x])
    assert replace_sin(model) == 1
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    kinds = {op.get_rt_info()["layerType"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()}
    assert "Math" not in kinds  # the reference kernel is gone
    return compiled


def test_sine_matches_float64_sin():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-4, 4, 200_000), rng.uniform(-1000, 1000, 200_000),
                        np.arange(-40, 41) * np.pi / 2, [0.0, -0.0, 1e-30, -1e-30]]).astype(np.float32)
    out = _compiled_sine(len(x))({"x": x})[0]
    err = np.abs(out.astype(np.float64) - np.sin(x.astype(np.float64)))
    assert err.max() <= MAX_ERR


def test_sine_of_inf_and_nan_is_nan():
    out = _compiled_sine(3)({"x": np.array([np.inf, -np.inf, np.nan], np.float32)})[0]
    assert np.isnan(out).all()

"""The decoder as ONNX: the plain export of ``DecoderGraph`` and the weight hand-off to the package.

``export_decoder_onnx`` is the single entry point later graph passes (Haar folding) hook after: it
returns the ``onnx.ModelProto`` of ``model.decode`` with inputs named ``model.embed_names`` (batch dim
dynamic) and one output ``frames`` ``[N, 3, H, W]``. The legacy TorchScript exporter
(``dynamo=False``) is used because it honours ``autograd.Function.symbolic`` (the custom Haar nodes).
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..runtime.atomic import write_atomic
from ..trainer.base import DecoderGraph
from ..trainer.wavelets import HAAR_DOMAIN, HAAR_OPSET

OPSET = 17
EXTERNAL_LOCATION = "nvpkg:weights"
"""``external_data`` location written for package weights; the runtime supplies them from memory."""


def export_decoder_onnx(model, embeds_example, path_or_bytes: str | os.PathLike | io.BytesIO | None = None
                        ) -> onnx.ModelProto:
    """Export ``model.decode`` (exportable mode, eval) to ONNX opset 17.

    ``embeds_example``: a dict keyed by ``model.embed_names`` or a tuple in that order, each
    ``[n, ...]`` (the batch dim is exported as dynamic ``batch``). If ``path_or_bytes`` is given the
    model is also written there (a path is written atomically).
    """
    names = list(model.embed_names)
    if isinstance(embeds_example, dict):
        embeds_example = tuple(embeds_example[n] for n in names)
    was_training = model.training
    # only families with wavelet switches emit the custom Haar domain (declaring it unused warns)
    custom = {HAAR_DOMAIN: HAAR_OPSET} if any(hasattr(m, "exportable") for m in model.modules()) else None
    model.eval().set_exportable(True)
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is chosen on purpose
            torch.onnx.export(DecoderGraph(model), tuple(embeds_example), buf, input_names=names,
                              output_names=["frames"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={n: {0: "batch"} for n in [*names, "frames"]},
                              custom_opsets=custom, do_constant_folding=True)
    finally:
        model.set_exportable(False).train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    if isinstance(path_or_bytes, io.BytesIO):
        path_or_bytes.write(proto.SerializeToString())
    elif path_or_bytes is not None:
        save_onnx(proto, path_or_bytes)
    return proto


def save_onnx(proto: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Write ``proto`` to ``path`` atomically."""
    write_atomic(path, proto.SerializeToString())


def externalize_weights(proto: onnx.ModelProto, weights: dict[str, np.ndarray]) -> tuple[bytes, list[str]]:
    """Graph bytes with each initializer whose name and value match ``weights`` turned external.

    The values then live (entropy-coded) in the package instead of the graph. Initializers that a
    graph pass changed, or that are not weights (shape constants), stay inline. Returns the serialized
    graph and the names made external.
    """
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    external = []
    for init in proto.graph.initializer:
        value = weights.get(init.name)
        if value is None or not np.array_equal(numpy_helper.to_array(init), value):
            continue
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        for key, val in (("location", EXTERNAL_LOCATION), ("offset", "0"), ("length", str(value.nbytes))):
            entry = init.external_data.add()
            entry.key, entry.value = key, val
        external.append(init.name)
    return proto.SerializeToString(), external

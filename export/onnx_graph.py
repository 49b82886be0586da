"""The decoder as ONNX: the plain export of ``model.decode`` and the weight hand-off to the package.

``export_decoder_onnx`` is the single entry point the graph passes work on: it returns the
``onnx.ModelProto`` of ``model.decode`` with inputs named ``model.embed_names`` (batch dim dynamic), one
output ``frames`` ``[N, 3, H, W]``, and every decoder parameter as an initializer under its own
state-dict name (``model.decoder_state()``). The legacy TorchScript exporter (``dynamo=False``) is used
because it honours ``autograd.Function.symbolic`` (the custom Haar nodes). Weights keep their names
because the exporter neither folds constants (which would fold a parameter into a new, unnamed
constant) nor merges initializers of equal value (``keep_initializers_as_inputs=True``; the inputs it
adds are dropped again): runtimes fold at load time what the graph leaves unfolded.
"""

from __future__ import annotations

import io
import os
import warnings

import onnx
import torch
from onnx import numpy_helper

from ..runtime.atomic import write_atomic
from ..trainer.base import DecoderGraph
from ..trainer.wavelets import HAAR_DOMAIN, HAAR_OPSET

OPSET = 17
PREFIX = "model."
"""What ``DecoderGraph`` (it holds the model as ``self.model``) puts before every parameter name."""
EXTERNAL_LOCATION = "nvpkg:weights"
"""``external_data`` location written for package weights; the runtime supplies them from memory."""


def export_decoder_onnx(model, embeds_example) -> onnx.ModelProto:
    """Export ``model.decode`` (exportable mode, eval) to ONNX opset 17 (module docstring).

    ``embeds_example``: a dict keyed by ``model.embed_names`` or a tuple in that order, each
    ``[n, ...]`` (the batch dim is exported as dynamic ``batch``).
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
                              custom_opsets=custom, do_constant_folding=False,
                              keep_initializers_as_inputs=True)
    finally:
        model.set_exportable(False).train(was_training)
    return _named_by_parameter(onnx.load_from_string(buf.getvalue()), set(model.decoder_state()))


def _named_by_parameter(proto: onnx.ModelProto, params: set[str]) -> onnx.ModelProto:
    """Initializers named as the model's parameters (``DecoderGraph`` adds a ``model.`` prefix), and
    no initializer listed as a graph input. Raises ``ValueError`` if a decoder parameter is missing."""
    rename = {i.name: i.name.removeprefix(PREFIX) for i in proto.graph.initializer}
    for init in proto.graph.initializer:
        init.name = rename[init.name]
    for node in proto.graph.node:
        node.input[:] = [rename.get(t, t) for t in node.input]
    inputs = [i for i in proto.graph.input if i.name not in rename]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)
    missing = params - set(rename.values())
    if missing:
        raise ValueError(f"the exported decoder lost parameter(s) {', '.join(sorted(missing))}")
    return proto


def save_onnx(proto: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Write ``proto`` to ``path`` atomically (``--onnx``)."""
    write_atomic(path, proto.SerializeToString())


def externalize_weights(proto: onnx.ModelProto, names: set[str]) -> bytes:
    """Graph bytes with the initializers ``names`` (the package's weights) turned external.

    Their values then live (entropy-coded) in the package under the same names instead of in the graph;
    other initializers (shape constants, Haar filters) stay inline. Every name must be an initializer
    of ``proto``, else ``ValueError``: a weight is never silently stored twice or uncompressed.
    """
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    found = set()
    for init in proto.graph.initializer:
        if init.name not in names:
            continue
        nbytes = len(numpy_helper.to_array(init).tobytes())
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        for key, val in (("location", EXTERNAL_LOCATION), ("offset", "0"), ("length", str(nbytes))):
            entry = init.external_data.add()
            entry.key, entry.value = key, val
        found.add(init.name)
    if found != names:
        raise ValueError(f"weights not in the decoder graph: {', '.join(sorted(names - found))}")
    return proto.SerializeToString()

"""The one export pass: every decoder parameter is kept by name (entropy-coded in the package, never
inline), and the package decodes what the exported model decodes.

References: the trainer's module itself (its parameter names and its eager ``decode``), and the
quantiser applied to each parameter directly.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from tiny import tiny_loaded

from nervkit.export.build import ExportOptions, build_package, export_decoder
from nervkit.export.onnx_graph import externalize_weights
from nervkit.export.passes.pipeline import optimize_for
from nervkit.export.quantize import quantize_tensor
from nervkit.runtime import Decoder, open_package
from nervkit.trainer.registry import model_names

FAMILIES = [n for n in model_names() if n.startswith("test-")]


@pytest.mark.parametrize("name", FAMILIES)
def test_every_parameter_is_stored_once_by_name(name, tmp_path):
    loaded = tiny_loaded(name, frames=3)
    with torch.no_grad():  # distinct values everywhere: equal scalars (two 1.0 gains) must not merge
        for i, p in enumerate(loaded.model.decoder_state().values()):
            p.add_(1e-3 * (i + 1))
    params = {k: p.detach() for k, p in loaded.model.decoder_state().items()}
    path = tmp_path / "p.nvpkg"
    build_package(loaded, path, ExportOptions(eval_frames=0))
    with open_package(path) as pkg:
        weights = pkg.weights()
        graph = onnx.load_from_string(pkg.graph_bytes())
        assert set(weights) == set(params)
        for k, p in params.items():
            np.testing.assert_array_equal(weights[k], quantize_tensor(p, 8).dequantize(), err_msg=k)
        inline = {i.name for i in graph.graph.initializer if i.data_location != onnx.TensorProto.EXTERNAL}
        assert not inline & set(params)
        # decodes what the exported model decodes
        exported = export_decoder(loaded)
        feeds = {k: v[:3] for k, v in exported.embeddings.items()}
        with torch.no_grad():
            eager = exported.model.decode(*(torch.from_numpy(feeds[k]) for k in pkg.embed_names)).numpy()
        with Decoder(pkg, backend="ort-cpu", batch=3) as dec:
            assert float(np.abs(dec.decode_float(0, 3) - eager).max()) < 1e-4


def test_a_weight_missing_from_the_graph_is_an_error():
    exported = export_decoder(tiny_loaded(frames=2))
    graph = optimize_for(exported.graph, "ort", fold=False)
    with pytest.raises(ValueError, match="not in the decoder graph: nowhere"):
        externalize_weights(graph, set(exported.compressed.weights) | {"nowhere"})

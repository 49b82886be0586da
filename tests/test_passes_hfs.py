"""The passes written for HFS-HNeRV's spatial attention, each on the model's own module, and on its whole
graph through the pipeline. Reference: eager PyTorch (the module as the family trains it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_passes import export, ops, run
from torch import nn

from nervkit.export.passes.haar_bands import haar_bands
from nervkit.export.passes.merge_column_sum import merge_column_sum
from nervkit.export.passes.pipeline import optimize_for
from nervkit.export.passes.sink_concat import sink_concat
from nervkit.export.passes.sink_depth_to_space import sink_depth_to_space
from nervkit.trainer.families.hfs_hnerv import HaarSpatialAttention
from nervkit.trainer.registry import create_model


def attention(channels: int = 12) -> HaarSpatialAttention:
    torch.manual_seed(0)
    m = HaarSpatialAttention(channels, 4, 7, (1.0, 2.0, 2.0, 2.0)).eval()
    m.dwt.exportable = True
    with torch.no_grad():
        m.enhance.copy_(torch.tensor([0.7, -1.3, 2.1, 0.4]))  # any Phi, signs included
        m.attend.weight.mul_(4.0)  # a gate that varies: sigmoid far from its midpoint
    return m


@pytest.mark.parametrize("hw", [(8, 12), (10, 6)])
def test_haar_bands_makes_the_branches_one_half_resolution_conv(hw):
    m, x = attention(), torch.randn(2, 12, *hw)
    graph = sink_depth_to_space(sink_concat(haar_bands(export(m, x))))
    order = ops(graph)
    assert "Resize" not in order and "HaarDWT" not in order
    assert order.count("Conv") == 4 and order.count("DepthToSpace") == 1  # reduce, bands, branches, attend
    assert order.index("Erf") < order.index("DepthToSpace")  # the branches' GELU joins their conv
    eager = m(x).detach().numpy()
    assert np.abs(run(graph, x.numpy())[0] - eager).max() < 1e-5
    assert np.abs(run(optimize_for(export(m, x), "ort", fold=False), x.numpy())[0] - eager).max() < 1e-5


def test_haar_bands_leaves_odd_sides_alone():
    m, x = attention(), torch.randn(2, 12, 7, 10)  # the DWT pads a row: R is not the IDWT of its bands
    graph = haar_bands(export(m, x))
    assert ops(graph).count("Resize") == 4
    assert np.abs(run(optimize_for(export(m, x), "ort"), x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


@pytest.mark.parametrize("kernel, stride", [((2, 2), 2), ((3, 2), 3)])
def test_merge_column_sum_composes_it_with_the_strided_conv(kernel, stride):
    groups, q = 3, 4
    m = nn.Sequential(nn.Conv2d(groups * 5, groups, (5, 1), padding=(2, 0), groups=groups),
                      nn.Conv2d(groups, groups * q, kernel, stride=stride, groups=groups))
    torch.manual_seed(0)
    x = torch.randn(2, groups * 5, 12, 10)
    graph = merge_column_sum(export(m, x))
    assert ops(graph).count("Conv") == 2  # the merged conv and the constant expression of its weight
    assert np.abs(run(graph, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_attention_after_the_whole_pipeline_has_no_full_resolution_column_sum():
    m, x = attention(), torch.randn(2, 12, 8, 12)
    graph = optimize_for(export(m, x), "ort", fold=False)
    known = {n.output[0]: n for n in graph.graph.node}
    strided = [n for n in known.values() if n.op_type == "Conv" and [a.ints for a in n.attribute
                                                                      if a.name == "strides"] == [[2, 2]]]
    assert len(strided) == 1 and known[strided[0].input[0]].op_type == "Conv"  # rows conv -> merged conv
    assert np.abs(run(graph, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-5


def test_sink_concat_runs_the_activation_on_each_part():
    class CatGelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.out = nn.Conv2d(3, 5, 3, 1, 1), nn.Conv2d(8, 2, 3, 1, 1)

        def forward(self, x):
            return self.out(nn.functional.gelu(torch.cat([self.a(x), x], 1)) * 1.5)

    torch.manual_seed(0)
    m, x = CatGelu(), torch.randn(2, 3, 6, 7)
    graph = sink_concat(export(m, x))
    cat = next(n for n in graph.graph.node if n.op_type == "Concat")
    assert [n.op_type for n in graph.graph.node if cat.output[0] in n.input] == ["Conv"]
    assert ops(graph).count("Erf") == 2
    assert np.abs(run(graph, x.numpy())[0] - m(x).detach().numpy()).max() < 1e-6


def test_hfs_hnerv_graph_has_no_band_resizes():
    from nervkit.export.onnx_graph import export_decoder_onnx

    torch.manual_seed(0)
    model = create_model("test-hfs-hnerv", (32, 64), 2).eval()
    with torch.no_grad():
        embeds = model.encode(model.clip_input(torch.rand(2, 3, 32, 64)))
        eager = model.decode(*[embeds[k] for k in model.embed_names]).numpy()
    graph = optimize_for(export_decoder_onnx(model, embeds), "ort", fold=False)
    assert ops(graph).count("Resize") == 1  # MSFRP's skip only
    feeds = [embeds[k].numpy() for k in model.embed_names]
    assert np.abs(run(graph, *feeds)[0] - eager).max() < 1e-4

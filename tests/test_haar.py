"""Haar modules against pytorch_wavelets and PyWavelets; the exported custom nodes and their reference."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import pytest
import pywt
import torch

from nervkit.export.haar_onnx import HAAR_DOMAIN, dwt_reference, idwt_reference
from nervkit.trainer.wavelets import HAAR_MODES, HaarDWT, HaarIDWT

SIZES = [(8, 12), (7, 10), (9, 5), (1, 3)]


@pytest.mark.parametrize("mode", HAAR_MODES)
@pytest.mark.parametrize("hw", SIZES)
def test_dwt_matches_pytorch_wavelets_and_pywavelets(mode, hw):
    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(0))
    training = HaarDWT(mode=mode)
    exportable = HaarDWT(exportable=True, mode=mode)
    ll_t, high_t = training(x)
    ll_e, high_e = exportable(x)
    assert ll_e.shape == ll_t.shape and high_e.shape == high_t.shape
    assert torch.allclose(ll_e, ll_t, atol=1e-6, rtol=0) and torch.allclose(high_e, high_t, atol=1e-6, rtol=0)
    ca, (ch, cv, cd) = pywt.dwt2(x.double().numpy(), "haar", mode=mode)
    assert np.abs(ll_e.numpy() - ca).max() < 1e-6
    for band, ref in enumerate((ch, cv, cd)):
        assert np.abs(high_e[:, :, band].numpy() - ref).max() < 1e-6
    ll_n, high_n = dwt_reference(x.double().numpy(), mode)
    assert np.abs(ll_n - ca).max() < 1e-12 and np.abs(high_n[:, :, 2] - cd).max() < 1e-12


@pytest.mark.parametrize("hw", SIZES)
def test_idwt_matches_pytorch_wavelets_and_pywavelets(hw):
    ll, high = torch.randn(2, 3, *hw), torch.randn(2, 3, 3, *hw)
    ours = HaarIDWT(exportable=True)(ll, high)
    assert torch.allclose(ours, HaarIDWT()(ll, high), atol=1e-6, rtol=0)
    ref = pywt.idwt2((ll.double().numpy(), tuple(high.double().numpy()[:, :, b] for b in range(3))), "haar")
    assert np.abs(ours.numpy() - ref).max() < 1e-6
    assert np.abs(idwt_reference(ll.double().numpy(), high.double().numpy()) - ref).max() < 1e-12


def test_fp16_matches_pytorch_wavelets():
    x = torch.randn(2, 4, 10, 14).half()
    ll_t, high_t = HaarDWT().half()(x)
    ll_e, high_e = HaarDWT(exportable=True)(x)
    assert ll_e.dtype == torch.float16
    assert (ll_e.float() - ll_t.float()).abs().max() < 1e-2
    assert (high_e.float() - high_t.float()).abs().max() < 1e-2
    back = HaarIDWT(exportable=True)(ll_e, high_e)
    assert back.dtype == torch.float16 and (back.float() - x.float()).abs().max() < 1e-2


def test_exportable_backward_is_the_adjoint():
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: HaarDWT(exportable=True, mode="periodization")(t), (x,))
    ll, high = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True), torch.randn(
        1, 2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: HaarIDWT(exportable=True)(a, b), (ll, high))


class _Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.dwt, self.idwt = HaarDWT(exportable=True, mode="periodization"), HaarIDWT(exportable=True)

    def forward(self, x):
        ll, high = self.dwt(x)
        return self.idwt(ll * 2.0, high)


def test_export_emits_one_custom_node_each():
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Pair(), (torch.randn(1, 3, 7, 8),), buf, dynamo=False, opset_version=17,
                          custom_opsets={HAAR_DOMAIN: 1})
    graph = onnx.load_from_string(buf.getvalue()).graph
    haar = [n for n in graph.node if n.domain == HAAR_DOMAIN]
    assert [n.op_type for n in haar] == ["HaarDWT", "HaarIDWT"]
    assert onnx.helper.get_attribute_value(haar[0].attribute[0]) == b"periodization"
    assert {n.op_type for n in graph.node} <= {"HaarDWT", "HaarIDWT", "Mul", "Constant"}

"""Compression pieces against independent references: entropy coders by round trip and against the
Shannon bound, the quantiser against a restatement of the official HNeRV ``quant_tensor``, pruning by
counting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nervkit.export.prune import prune_global
from nervkit.export.quantize import quantize_tensor
from nervkit.runtime.entropy import CodedStream, encode_stream


def _stream(blob: bytes) -> CodedStream:
    return CodedStream(lambda o, n: blob[o:o + n], len(blob))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=400), st.integers(1, 50),
       st.sampled_from(["huffman", "ans"]))
def test_entropy_round_trip(symbols, chunk_len, coder):
    x = np.array(symbols)
    blob, name = encode_stream(x, chunk_len, coders=(coder,))
    assert name == coder
    stream = _stream(blob)
    np.testing.assert_array_equal(stream.decode(), x)
    k = stream.n_chunks // 2
    np.testing.assert_array_equal(stream.decode(k, k + 1), x[k * chunk_len:(k + 1) * chunk_len])


def test_coders_near_entropy_and_best_is_kept():
    rng = np.random.default_rng(1)
    gauss = np.clip(np.round(rng.normal(128, 12, 200_000)), 0, 255).astype(int)
    sparse = np.where(rng.random(200_000) < 0.9, 100, gauss)  # like 90% pruned weights
    for x in (gauss, sparse):
        p = np.bincount(x) / len(x)
        shannon = -(p[p > 0] * np.log2(p[p > 0])).sum() * len(x) / 8
        sizes = {c: len(encode_stream(x, 4096, coders=(c,))[0]) for c in ("huffman", "ans")}
        blob, best = encode_stream(x, 4096)
        assert len(blob) == min(sizes.values()) and sizes[best] == len(blob)
        assert sizes["ans"] <= 1.01 * shannon + 2000
        assert sizes["huffman"] <= shannon + len(x) / 8 + 2000  # Huffman: < 1 bit/symbol above entropy
        np.testing.assert_array_equal(_stream(blob).decode(), x)
    # the pruned stream: ANS beats Huffman's 1-bit floor on the dominant symbol
    assert len(encode_stream(sparse, 4096, coders=("ans",))[0]) < 0.8 * len(
        encode_stream(sparse, 4096, coders=("huffman",))[0])


def _official_quant_error(t: torch.Tensor, bits: int) -> float:
    """Mean abs error of the official HNeRV ``quant_tensor`` (restated from its utils.py)."""
    candidates = [(t.min(), (t.max() - t.min()) / (2 ** bits - 1))]
    for axis in range(t.dim()):
        mn, mx = t.min(axis, keepdim=True)[0], t.max(axis, keepdim=True)[0]
        if mn.nelement() / t.nelement() < 0.02:
            candidates.append((mn.to(torch.float16), ((mx - mn) / (2 ** bits - 1)).to(torch.float16)))
    errs = []
    for mn, scale in candidates:
        mn, scale = mn.expand_as(t), scale.expand_as(t)
        q = ((t - mn) / scale).round().clamp(0, 2 ** bits - 1)
        errs.append((t - (mn + scale * q)).abs().mean().item())
    return min(errs)


@pytest.mark.parametrize("shape", [(96, 60, 3, 3), (17,), (132, 16, 2, 4), (5, 3, 1, 1)])
@pytest.mark.parametrize("bits", [6, 8])
def test_quantizer_at_least_as_good_as_official(shape, bits):
    torch.manual_seed(sum(shape) + bits)
    t = torch.randn(shape) * torch.linspace(0.1, 2.0, shape[0]).reshape(-1, *([1] * (len(shape) - 1)))
    q = quantize_tensor(t, bits)
    assert q.codes.max() < 2 ** bits and q.codes.shape == t.shape
    err = np.abs(q.dequantize() - t.numpy())
    assert float(err.mean()) <= _official_quant_error(t, bits) * (1 + 1e-6)
    # every value within half a stored step, up to the fp16 rounding of min and scale
    assert np.all(err <= q.scales.astype(np.float32) * 0.51 + 2e-3)


def test_quantizer_constant_tensor_is_exact():
    q = quantize_tensor(torch.full((4, 4), 0.25), 8)
    np.testing.assert_array_equal(q.dequantize(), np.full((4, 4), 0.25, dtype=np.float32))


def test_scalar_parameter_survives_compression():
    """A 0-d parameter (a learnable scale) quantises and loads back as a 0-d float32 parameter."""
    from nervkit.trainer.base import NeRVModel

    class Scaled(NeRVModel):
        def __init__(self):
            super().__init__(None)
            self.scale = torch.nn.Parameter(torch.tensor(0.3))

    model = Scaled()
    q = quantize_tensor(model.scale.detach(), 8)
    model.load_decoder_state({"scale": q.dequantize()})
    assert model.scale.shape == () and model.scale.item() == pytest.approx(0.3, abs=1e-6)
    with pytest.raises(ValueError, match="names differ"):
        model.load_decoder_state({"scale": q.dequantize(), "other": q.dequantize()})
    with pytest.raises(ValueError, match="shape"):
        model.load_decoder_state({"scale": np.zeros(2, np.float32)})


def test_global_pruning_fraction_and_biases_kept():
    torch.manual_seed(0)
    tensors = {"a.weight": torch.randn(40, 10, 3, 3), "b.weight": torch.randn(20, 40) * 3,
               "a.bias": torch.randn(40)}
    pruned = prune_global(tensors, 0.3)
    n = tensors["a.weight"].numel() + tensors["b.weight"].numel()
    zeros = int((pruned["a.weight"] == 0).sum() + (pruned["b.weight"] == 0).sum())
    assert zeros == int(0.3 * n)
    assert torch.equal(pruned["a.bias"], tensors["a.bias"])
    # global, not per layer: the larger-magnitude tensor loses a smaller share
    assert (pruned["b.weight"] == 0).float().mean() < (pruned["a.weight"] == 0).float().mean()
    kept = torch.cat([v[v != 0].abs() for k, v in pruned.items() if k.endswith("weight")])
    dropped = torch.cat([tensors[k][pruned[k] == 0].abs() for k in ("a.weight", "b.weight")])
    assert dropped.max() <= kept.min()

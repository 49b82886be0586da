"""HNeRV's asymmetric min/scale quantiser (``quant_tensor`` of the official code), candidate by candidate.

For a tensor ``t`` and ``b`` bits, each candidate is a (min, scale) pair: per-tensor (float32 scalars),
or per-axis for every single axis whose min/scale arrays cost under 2% of the tensor (``t`` reduced
over that axis, keepdim; float16, as the official code stores them). Codes are
``q = clamp(round((t - min) / scale), 0, 2^b - 1)`` and the candidate with the lowest mean absolute
error ``mean |t - (min + scale q)|`` wins: the same search as the official code, so never worse. The
codes are computed from the *stored* (rounded) min/scale, so the error measured is the error shipped.
"""

from __future__ import annotations

import numpy as np
import torch

from ..runtime.quant import Quantized

PARAM_BUDGET = 0.02
"""Largest (min/scale elements) / (tensor elements) for a per-axis candidate (the official 2%)."""


def _candidate(t: torch.Tensor, mn: torch.Tensor, mx: torch.Tensor, bits: int, dtype: torch.dtype):
    levels = 2 ** bits - 1
    scale = ((mx - mn) / levels).to(dtype)
    mn = mn.to(dtype)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # constant slice: every code 0
    codes = ((t - mn.float()) / scale.float()).round().clamp(0, levels)
    err = (t - (mn.float() + scale.float() * codes)).abs().mean().item()
    return err, codes, mn, scale


def quantize_tensor(t: torch.Tensor, bits: int) -> Quantized:
    """Quantise ``t`` to ``bits``-bit codes with the best min/scale layout (see module docstring)."""
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be 1..16, got {bits}")
    t = t.detach().float().cpu()
    ones = (1,) * t.dim()
    candidates = [_candidate(t, t.min().reshape(ones), t.max().reshape(ones), bits, torch.float32)]
    for axis in range(t.dim()):
        mn = t.amin(axis, keepdim=True)
        if mn.numel() / t.numel() < PARAM_BUDGET:
            candidates.append(_candidate(t, mn, t.amax(axis, keepdim=True), bits, torch.float16))
    _, codes, mn, scale = min(candidates, key=lambda c: c[0])
    code_dtype = np.uint8 if bits <= 8 else np.uint16
    return Quantized(codes.numpy().astype(code_dtype), mn.numpy(), scale.numpy(), bits)

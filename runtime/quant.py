"""Dequantisation, the inverse of HNeRV's asymmetric min/scale quantiser.

``value = min + scale * code`` (broadcast), with ``code`` in ``[0, 2^bits - 1]`` and ``min``/``scale``
either scalars (per-tensor) or arrays that keep every axis but one (per-axis). Computed in float32
in the same order as the official code (``min.float() + scale.float() * quant.float()``), so a
package built from the official checkpoint dequantises to bit-identical weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def dequantize(codes: np.ndarray, mins: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Codes (any int dtype) and broadcastable ``mins``/``scales`` -> float32 values of ``codes``' shape."""
    return mins.astype(np.float32) + scales.astype(np.float32) * codes.astype(np.float32)


@dataclass
class Quantized:
    """One quantised tensor as stored in a package."""

    codes: np.ndarray
    """Integer codes in ``[0, 2^bits - 1]``, the tensor's shape."""
    mins: np.ndarray
    """float16 or float32, broadcastable to ``codes`` (per-tensor: all dims 1)."""
    scales: np.ndarray
    """Step size, same shape and dtype as ``mins``."""
    bits: int
    """Code width in bits (1..16)."""

    def dequantize(self) -> np.ndarray:
        return dequantize(self.codes, self.mins, self.scales)

"""The ``nervkit::HaarDWT`` / ``nervkit::HaarIDWT`` ONNX nodes: attributes, shape rule, numpy reference.

The nodes are emitted by ``trainer.wavelets`` (``HaarDWTFunction.symbolic``). Their contract, which the
graph passes, the TensorRT plugins and the doctor's self-test all follow:

- ``HaarDWT(x [N, C, H, W]) -> (ll [N, C, h, w], high [N, C, 3, h, w])``, ``h = ceil(H/2)``,
  ``w = ceil(W/2)``, attribute ``mode`` (string, one of ``HAAR_MODES``) saying how an odd side is padded;
- ``HaarIDWT(ll [N, C, h, w], high [N, C, 3, h, w]) -> x [N, C, 2h, 2w]``.

Each band is the correlation of a 2x2 block ``x[2i:2i+2, 2j:2j+2]`` with one of the orthonormal filters
``HAAR_FILTERS[band]`` (band 0 = LL, then pytorch_wavelets' three detail bands). The inverse is the
transpose, ``x[2i+di, 2j+dj] = sum_band HAAR_FILTERS[band, di, dj] * band[i, j]``, because the four
filters form an orthonormal basis of the 2x2 block.

For TensorRT the nodes also carry ``plugin_namespace`` and ``plugin_version``: the ONNX-TensorRT parser
falls back to a plugin creator with the node's op type, that namespace and that version, and hands it the
node's attributes as plugin fields.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..trainer.wavelets import HAAR_DOMAIN, HAAR_MODES, HAAR_OPSET

__all__ = ["HAAR_DOMAIN", "HAAR_MODES", "HAAR_OPSET", "DWT_OP", "IDWT_OP", "HAAR_FILTERS", "PLUGIN_VERSION",
           "is_haar", "dwt_mode", "output_shapes", "dwt_reference", "idwt_reference"]

DWT_OP = "HaarDWT"
IDWT_OP = "HaarIDWT"
PLUGIN_VERSION = str(HAAR_OPSET)

HAAR_FILTERS = 0.5 * np.array([[[1, 1], [1, 1]],      # LL
                               [[1, 1], [-1, -1]],    # band 0: rows differenced
                               [[1, -1], [1, -1]],    # band 1: columns differenced
                               [[1, -1], [-1, 1]]],   # band 2: diagonal
                              dtype=np.float64)
"""``[band, di, dj]``: the 2x2 analysis filters; rows are orthonormal as 4-vectors."""

_NUMPY_PAD = {"zero": "constant", "periodization": "edge"}


def is_haar(node: onnx.NodeProto) -> bool:
    return node.domain == HAAR_DOMAIN and node.op_type in (DWT_OP, IDWT_OP)


def dwt_mode(node: onnx.NodeProto) -> str:
    for a in node.attribute:
        if a.name == "mode":
            return a.s.decode()
    return "zero"


def output_shapes(node: onnx.NodeProto, shape: list) -> list[list]:
    """Output shapes of a Haar node from its first input's shape (entries int or None when unknown)."""
    n, c, h, w = shape
    if node.op_type == DWT_OP:
        h, w = (None if s is None else (s + 1) // 2 for s in (h, w))
        return [[n, c, h, w], [n, c, 3, h, w]]
    return [[n, c] + [None if s is None else 2 * s for s in (h, w)]]


def dwt_reference(x: np.ndarray, mode: str = "zero") -> tuple[np.ndarray, np.ndarray]:
    """Plain-numpy HaarDWT: ``x [N, C, H, W] -> (ll [N, C, h, w], high [N, C, 3, h, w])``, dtype kept."""
    pad = [(0, 0), (0, 0), (0, x.shape[2] % 2), (0, x.shape[3] % 2)]
    x = np.pad(x, pad, mode=_NUMPY_PAD[mode])
    n, c, hh, ww = x.shape
    blocks = x.reshape(n, c, hh // 2, 2, ww // 2, 2).astype(np.float64)
    bands = np.einsum("bij,ncpiqj->ncbpq", HAAR_FILTERS, blocks).astype(x.dtype)
    return bands[:, :, 0], bands[:, :, 1:]


def idwt_reference(ll: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Plain-numpy HaarIDWT: ``[N, C, h, w], [N, C, 3, h, w] -> [N, C, 2h, 2w]``, dtype of ``ll``."""
    bands = np.concatenate([ll[:, :, None], high], axis=2).astype(np.float64)
    n, c, _, h, w = bands.shape
    blocks = np.einsum("bij,ncbpq->ncpiqj", HAAR_FILTERS, bands)
    return blocks.reshape(n, c, 2 * h, 2 * w).astype(ll.dtype)

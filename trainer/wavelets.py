"""Single-level 2-D Haar DWT / IDWT with an export switch.

Training uses ``pytorch_wavelets`` (``DWTForward(J=1, wave="haar", mode="zero")`` and ``DWTInverse``),
the implementation the wavelet papers train with. Its transforms are autograd Functions that do not export,
so ``exportable = True`` (set by ``NeRVModel.set_exportable``) switches to the same orthonormal map written
with tensor slicing. Shapes follow pytorch_wavelets: ``x [N, C, H, W] -> (ll [N, C, h, w],
high [N, C, 3, h, w])`` with ``h = ceil(H / 2)``, ``w = ceil(W / 2)`` and the three detail bands in
pytorch_wavelets' order. For a 2x2 block ``[[a, b], [c, d]]``::

    ll = (a + b + c + d) / 2      band0 = (a + b - c - d) / 2
    band1 = (a - b + c - d) / 2   band2 = (a - b - c + d) / 2

Odd sizes are zero-padded at the bottom/right ("zero" mode for the length-2 Haar filter).
"""

from __future__ import annotations

import importlib
import sys
import types

import torch
import torch.nn.functional as F
from torch import nn


def import_pytorch_wavelets():
    """Import ``pytorch_wavelets`` on a fresh install.

    pytorch_wavelets 1.3.0 imports ``pkg_resources.resource_stream`` (for its DTCWT tables), and
    setuptools >= 81 no longer ships ``pkg_resources``. When it is missing, a minimal stand-in that
    serves ``resource_stream`` from ``importlib.resources`` is registered first.
    """
    try:
        importlib.import_module("pkg_resources")
    except ImportError:
        from importlib.resources import files

        shim = types.ModuleType("pkg_resources")
        shim.resource_stream = lambda package, name: files(package).joinpath(name).open("rb")
        sys.modules["pkg_resources"] = shim
    return importlib.import_module("pytorch_wavelets")


def _pad_even(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))


def haar_dwt(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Slicing implementation of the Haar DWT (module docstring); exports as standard ops."""
    x = _pad_even(x)
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    ll = (a + b + c + d) * 0.5
    high = torch.stack([(a + b - c - d) * 0.5, (a - b + c - d) * 0.5, (a - b - c + d) * 0.5], dim=2)
    return ll, high


def haar_idwt(ll: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_dwt`: ``[N, C, h, w], [N, C, 3, h, w] -> [N, C, 2h, 2w]``."""
    h0, h1, h2 = high.unbind(2)
    a = (ll + h0 + h1 + h2) * 0.5
    b = (ll + h0 - h1 - h2) * 0.5
    c = (ll - h0 + h1 - h2) * 0.5
    d = (ll - h0 - h1 + h2) * 0.5
    n, ch, h, w = ll.shape
    top = torch.stack([a, b], dim=-1).reshape(n, ch, h, 2 * w)
    bottom = torch.stack([c, d], dim=-1).reshape(n, ch, h, 2 * w)
    return torch.stack([top, bottom], dim=-2).reshape(n, ch, 2 * h, 2 * w)


class HaarDWT(nn.Module):
    """``x [N, C, H, W] -> (ll [N, C, h, w], high [N, C, 3, h, w])``; see the module docstring."""

    def __init__(self, exportable: bool = False):
        super().__init__()
        self.exportable = exportable
        self._ptw = import_pytorch_wavelets().DWTForward(J=1, wave="haar", mode="zero")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.exportable:
            return haar_dwt(x)
        ll, highs = self._ptw(x)
        return ll, highs[0]


class HaarIDWT(nn.Module):
    """``(ll [N, C, h, w], high [N, C, 3, h, w]) -> x [N, C, 2h, 2w]``."""

    def __init__(self, exportable: bool = False):
        super().__init__()
        self.exportable = exportable
        self._ptw = import_pytorch_wavelets().DWTInverse(wave="haar", mode="zero")

    def forward(self, ll: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        if self.exportable:
            return haar_idwt(ll, high)
        return self._ptw((ll, [high]))

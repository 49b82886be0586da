"""Single-level 2-D Haar DWT / IDWT with an export switch.

Training uses ``pytorch_wavelets`` (``DWTForward(J=1, wave="haar", mode=mode)`` and ``DWTInverse``), the
implementation the wavelet papers train with. Its transforms are autograd Functions that do not export, so
``exportable = True`` (set by ``NeRVModel.set_exportable``) switches to :class:`HaarDWTFunction` /
:class:`HaarIDWTFunction`: the same orthonormal map computed by tensor slicing in eager mode, and exported
by ``torch.onnx.export(..., dynamo=False)`` as ONE custom-domain node each (``nervkit::HaarDWT``,
``nervkit::HaarIDWT``). nervkit's export passes then fold, lower or keep those nodes (TensorRT plugins).

Shapes follow pytorch_wavelets: ``x [N, C, H, W] -> (ll [N, C, h, w], high [N, C, 3, h, w])`` with
``h = ceil(H / 2)``, ``w = ceil(W / 2)`` and the three detail bands in pytorch_wavelets' order. For a 2x2
block ``[[a, b], [c, d]]``::

    ll = (a + b + c + d) / 2      band0 = (a + b - c - d) / 2
    band1 = (a - b + c - d) / 2   band2 = (a - b - c + d) / 2

Odd sizes are padded by one row/column at the bottom/right; the mode says with what (as pytorch_wavelets
and PyWavelets do for the length-2 Haar filter): ``zero`` (pytorch_wavelets' default) with zeros,
``periodization`` (the official SNeRV code's mode) by repeating the edge sample. The inverse is the same
for both: ``[N, C, h, w], [N, C, 3, h, w] -> [N, C, 2h, 2w]`` (a caller crops odd sizes).
"""

from __future__ import annotations

import importlib
import sys
import types

import torch
import torch.nn.functional as F
from torch import nn

HAAR_DOMAIN = "nervkit"
"""ONNX domain of the custom Haar nodes; TensorRT plugins register under the same namespace."""
HAAR_OPSET = 1
"""Version of the ``nervkit`` ONNX domain (and of the TensorRT plugins)."""
HAAR_MODES = ("zero", "periodization")
"""The padding modes the families' official codes use; for Haar they differ only in the odd-size pad."""
_TORCH_PAD = {"zero": "constant", "periodization": "replicate"}


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


def _check_mode(mode: str) -> str:
    if mode not in HAAR_MODES:
        raise ValueError(f"Haar mode {mode!r} is not one of {', '.join(HAAR_MODES)}")
    return mode


def haar_dwt(x: torch.Tensor, mode: str = "zero") -> tuple[torch.Tensor, torch.Tensor]:
    """Slicing implementation of the Haar DWT (module docstring)."""
    pad = (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)
    if any(pad):
        x = F.pad(x, pad, mode=_TORCH_PAD[_check_mode(mode)])
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


def _vjp(fn, inputs: tuple[torch.Tensor, ...], grads: tuple[torch.Tensor, ...]):
    """Backward of a linear slicing op: autograd on the op itself (the exportable path is rarely trained)."""
    with torch.enable_grad():
        leaves = tuple(t.detach().requires_grad_() for t in inputs)
        return torch.autograd.grad(fn(*leaves), leaves, grads)


class HaarDWTFunction(torch.autograd.Function):
    """:func:`haar_dwt` that exports as one ``nervkit::HaarDWT`` node (attribute ``mode``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mode: str):
        ctx.save_for_backward(x)
        ctx.mode = mode
        return haar_dwt(x, mode)

    @staticmethod
    def backward(ctx, g_ll, g_high):
        (x,) = ctx.saved_tensors
        return _vjp(lambda t: haar_dwt(t, ctx.mode), (x,), (g_ll, g_high))[0], None

    @staticmethod
    def symbolic(g, x, mode: str):
        ll, high = g.op(f"{HAAR_DOMAIN}::HaarDWT", x, mode_s=mode, outputs=2)
        sizes = x.type().varyingSizes()
        if sizes is not None and len(sizes) == 4:
            n, c, h, w = sizes
            h, w = (None if s is None else (s + 1) // 2 for s in (h, w))
            ll.setType(x.type().with_sizes([n, c, h, w]))
            high.setType(x.type().with_sizes([n, c, 3, h, w]))
        return ll, high


class HaarIDWTFunction(torch.autograd.Function):
    """:func:`haar_idwt` that exports as one ``nervkit::HaarIDWT`` node."""

    @staticmethod
    def forward(ctx, ll: torch.Tensor, high: torch.Tensor):
        ctx.save_for_backward(ll, high)
        return haar_idwt(ll, high)

    @staticmethod
    def backward(ctx, g):
        return _vjp(haar_idwt, ctx.saved_tensors, (g,))

    @staticmethod
    def symbolic(g, ll, high):
        out = g.op(f"{HAAR_DOMAIN}::HaarIDWT", ll, high)
        sizes = ll.type().varyingSizes()
        if sizes is not None and len(sizes) == 4:
            n, c, h, w = sizes
            out.setType(ll.type().with_sizes([n, c] + [None if s is None else 2 * s for s in (h, w)]))
        return out


class HaarDWT(nn.Module):
    """``x [N, C, H, W] -> (ll [N, C, h, w], high [N, C, 3, h, w])``; see the module docstring."""

    def __init__(self, exportable: bool = False, mode: str = "zero"):
        super().__init__()
        self.exportable = exportable
        self.mode = _check_mode(mode)
        self._ptw = import_pytorch_wavelets().DWTForward(J=1, wave="haar", mode=mode)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.exportable:
            return HaarDWTFunction.apply(x, self.mode)
        ll, highs = self._ptw(x)
        return ll, highs[0]


class HaarIDWT(nn.Module):
    """``(ll [N, C, h, w], high [N, C, 3, h, w]) -> x [N, C, 2h, 2w]``."""

    def __init__(self, exportable: bool = False):
        super().__init__()
        self.exportable = exportable
        self._ptw = import_pytorch_wavelets().DWTInverse(wave="haar")

    def forward(self, ll: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        if self.exportable:
            return HaarIDWTFunction.apply(ll, high)
        return self._ptw((ll, [high]))

"""Modulated deformable convolution (DCNv2, as EDVR's PCD alignment uses) in plain PyTorch.

For input ``x [N, C, H, W]``, per-tap offsets ``offset [N, 2*G*K, H, W]`` laid out as ``(group, tap,
(dy, dx))`` and modulation ``mask [N, G*K, H, W]`` laid out as ``(group, tap)``, with ``K = k*k`` taps,
``G`` offset groups (each covering ``C / G`` consecutive channels), stride 1, dilation 1 and padding
``k // 2``::

    out[n, o, y, x] = b[o] + sum_{c, t} w[o, c, t] * mask[n, g(c), t, y, x]
                            * bilinear(x[n, c], y + ty - k//2 + dy[n, g(c), t, y, x],
                                                 x + tx - k//2 + dx[n, g(c), t, y, x])

where ``bilinear`` reads zero outside the frame (each of the four neighbours separately). This is the
layout and the sampling rule of ONNX ``DeformConv`` (opset 19) and of torchvision's
``deform_conv2d``; here the sampling is ``grid_sample`` (bilinear, zeros, ``align_corners=True``)
over all taps at once, followed by one matrix product. Under ``torch.onnx.export`` the same call is
emitted as a single standard ``DeformConv`` node.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def deform_conv(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor) -> torch.Tensor:
    """The formula of the module docstring; ``weight [O, C, k, k]``, ``bias [O]`` -> ``[N, O, H, W]``."""
    if torch.onnx.is_in_onnx_export():
        k = int(weight.shape[-1])  # Python ints: ONNX attributes, not traced shape values
        return _DeformConvOnnx.apply(x, offset, mask, weight, bias, k, int(mask.shape[1]) // (k * k))
    return _deform_conv_eager(x, offset, mask, weight, bias)


def _deform_conv_eager(x, offset, mask, weight, bias):
    n, c, h, w = x.shape
    k = weight.shape[-1]
    taps = k * k
    groups = mask.shape[1] // taps
    off = offset.view(n, groups, taps, 2, h, w)
    ty, tx = torch.meshgrid(torch.arange(k, dtype=x.dtype, device=x.device) - k // 2,
                            torch.arange(k, dtype=x.dtype, device=x.device) - k // 2, indexing="ij")
    base_y = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, 1, h, 1) + ty.reshape(1, 1, taps, 1, 1)
    base_x = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, 1, w) + tx.reshape(1, 1, taps, 1, 1)
    py = base_y + off[:, :, :, 0]  # [N, G, K, H, W] sampling rows
    px = base_x + off[:, :, :, 1]
    grid = torch.stack((px * (2.0 / max(w - 1, 1)) - 1.0, py * (2.0 / max(h - 1, 1)) - 1.0), dim=-1)
    grid = grid.view(n * groups, taps * h, w, 2)
    sampled = F.grid_sample(x.reshape(n * groups, c // groups, h, w), grid, mode="bilinear",
                            padding_mode="zeros", align_corners=True)  # [N*G, C/G, K*H, W]
    sampled = sampled.view(n, groups, c // groups, taps, h, w) * mask.view(n, groups, 1, taps, h, w)
    out = torch.einsum("nckhw,ock->nohw", sampled.reshape(n, c, taps, h, w), weight.reshape(-1, c, taps))
    return out + bias.view(1, -1, 1, 1)


class _DeformConvOnnx(torch.autograd.Function):
    """Export-only: traced as ONNX ``DeformConv`` (inputs X, W, offset, B, mask)."""

    @staticmethod
    def forward(ctx, x, offset, mask, weight, bias, k, groups):
        return _deform_conv_eager(x, offset, mask, weight, bias)

    @staticmethod
    def symbolic(g, x, offset, mask, weight, bias, k, groups):
        return g.op("DeformConv", x, weight, offset, bias, mask, kernel_shape_i=[k, k], pads_i=[k // 2] * 4,
                    strides_i=[1, 1], dilations_i=[1, 1], group_i=1, offset_group_i=groups)


class ModulatedDeformConv(nn.Module):
    """DCNv2 block: a plain conv on the *offset feature* predicts offsets and a sigmoid mask, then
    :func:`deform_conv` samples the input.

    ``forward(x [N, C, H, W], feat [N, C, H, W])``: ``feat`` is what the offsets are computed from
    (EDVR's ``conv_offset`` over the concatenated neighbour/reference features). The offset conv starts
    at zero (EDVR's ``init_offset``), so an untrained block is a plain convolution with mask 0.5.
    """

    def __init__(self, channels: int, kernel: int = 3, offset_groups: int = 8):
        super().__init__()
        if channels % offset_groups:
            raise ValueError(f"{channels} channels do not split into {offset_groups} offset groups")
        self.kernel, self.groups = kernel, offset_groups
        self.weight = nn.Parameter(torch.empty(channels, channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.conv_offset = nn.Conv2d(channels, 3 * offset_groups * kernel * kernel, kernel, padding=kernel // 2)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        taps = self.groups * self.kernel * self.kernel
        offset, mask = self.conv_offset(feat).split([2 * taps, taps], 1)
        return deform_conv(x, offset, torch.sigmoid(mask), self.weight, self.bias)

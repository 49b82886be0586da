"""Building blocks of the official HNeRV code, with its parameter names.

The names (``downsample_layers``, ``stages``, ``conv.upconv.0`` ...) match the official state dict so
its checkpoints load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of an NCHW tensor (ConvNeXt's ``channels_first`` LayerNorm)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block: 7x7 depthwise conv, LayerNorm, 4x MLP with GELU, layer scale, residual."""

    def __init__(self, dim: int, layer_scale_init: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # NCHW -> NHWC
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ConvNeXtEncoder(nn.Module):
    """HNeRV's frame encoder: one patchify conv per stride, each followed by ConvNeXt blocks.

    ``[N, 3, H, W] -> [N, dims[-1], H / prod(strides), W / prod(strides)]``.
    """

    def __init__(self, strides: list[int], dims: list[int], blocks: int = 1, in_ch: int = 3):
        super().__init__()
        self.downsample_layers = nn.ModuleList()
        self.stages = nn.ModuleList()
        for i, (s, d) in enumerate(zip(strides, dims)):
            if i == 0:
                down = nn.Sequential(nn.Conv2d(in_ch, d, s, s), LayerNorm2d(d))
            else:
                down = nn.Sequential(LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], d, s, s))
            self.downsample_layers.append(down)
            self.stages.append(nn.Sequential(*[ConvNeXtBlock(d) for _ in range(blocks)]))
        self.apply(_init_convnext)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return x


def _init_convnext(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


class DownConv(nn.Module):
    """The official ``DownConv`` with ks=0, stride 1: the 1x1 conv that widens the embedding."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.downconv = nn.Conv2d(in_ch, out_ch, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downconv(x)


class UpConv(nn.Module):
    """Sub-pixel up-sampling: ``conv(k, pad (k-1)//2) -> PixelShuffle(s)``.

    ``[N, C_in, h, w] -> [N, C_out, s*h, s*w]``; the conv has ``C_out * s^2`` output channels.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__()
        self.upconv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch * stride * stride, kernel, 1, (kernel - 1) // 2),
            nn.PixelShuffle(stride) if stride != 1 else nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upconv(x)


class NeRVBlock(nn.Module):
    """HNeRV decoder block: ``GELU(conv(x))`` with ``conv`` an UpConv or the first DownConv; no norm."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.conv(x))


def out_image(x: torch.Tensor) -> torch.Tensor:
    """HNeRV's ``tanh`` output bias: ``tanh(x) * 0.5 + 0.5`` maps the head to [0, 1]."""
    return torch.tanh(x) * 0.5 + 0.5


def conv(in_ch: int, out_ch: int, kernel: int, dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    """``nn.Conv2d`` with 'same' padding ``dilation * (k - 1) // 2`` for an odd ``kernel``."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                     groups=groups)

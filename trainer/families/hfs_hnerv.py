"""HFS-HNeRV (Zhao, Li, Chong, "Video Compression Using Hybrid Neural Representation with
High-Frequency Spectrum Analysis", Electronics 2025).

HNeRV's encoder, embedding and 1x1 stem (``trainer/skeleton.py``); each of the five up-sampling stages is an
HFS-HNeRV block = sub-pixel conv (HNeRV's ``GELU(PixelShuffle(conv_k))``, kernels 1,3,5,5,5, giving
``F1``) followed by the high-frequency spectrum convolution module (HFSCM, Fig. 3c, 4):

- channel attention (Eq. 1-2): ``F2 = F1 * sigmoid(MLP(GELU(MLP(F1)))) + F1``, a per-pixel MLP over
  channels ``C -> C/r -> C`` (GAM style, 1x1 convs), ``r = 5`` (Tables 2-3);
- Haar spatial attention (Eq. 10-16): ``R = Conv_k(F2)`` reduces to ``C/r`` channels, its Haar DWT bands
  are bilinearly up-sampled 2x, weighted by the enhancement weights ``Phi`` and added to ``R``;
  ``S = sigmoid(Conv_k(GELU(Concat(F2, LL2, HL2, LH2, HH2))))`` is a one-channel map, ``k = 7``;
  ``F3 = F2 * S + F2``;
- dual conv + residual (Eq. 17, Table 4): ``F_out = Conv3(GELU(Conv3(GELU(F3)))) + F1``.

MSFRP (Sec. 3.2): the output of the third-to-last stage (160x320 at 640x1280) goes through a 1x1 conv to
3 channels, is bilinearly up-sampled to the frame size and added to the 3x3 head's output; then HNeRV's
``tanh / 2 + 1/2``. Default loss: ``MSE + 0.12 * HFS`` (``trainer/hfs_loss.py``, Eq. 22-24).

Choices where the paper is silent or inconsistent (each written here because the paper does not fix it):

- Eq. 11-14 add the up-sampled bands (``C/r`` channels) to ``F2`` (``C`` channels); the shapes only agree
  for the reduced map ``R`` the DWT was taken of, so the bands are added to ``R``. ``S`` has one channel
  (CBAM-style): with ``r = 5`` that is what makes the parameter growth of Table 2 (~2.5k * k^2 over the
  five blocks) come out; a ``C``-channel map would cost ~6x more.
- Enhancement weights ``Phi`` (LL, HL, LH, HH) = (1, 2, 2, 2): the paper names them hyperparameters that
  emphasise the detail bands but gives no values; LL is kept as is and every detail band doubled. They
  are a buffer (fixed, foldable on export).
- Band names: the text's definitions of LH and HL contradict the layout of Eq. 7-8; the equations win.
  Eq. 5-8 transform rows then columns with ``A = (x0 + x1)/sqrt2``, ``D = (x0 - x1)/sqrt2``, so for a
  2x2 block ``[[a, b], [c, d]]``: ``HL = (a + b - c - d)/2`` (pytorch_wavelets' band 0),
  ``LH = (a - b + c - d)/2`` (band 1), ``HH = (a - b - c + d)/2`` (band 2).
- Eq. 15 has no normalisation although the text mentions one; HNeRV and this decoder use none, so none.
- "Dual convolutional layer" (Table 4) is read as two 3x3 convs ``C -> C`` with GELU between.
- ``C/r`` is floored at 1 channel (the tiny test variant has 8-channel stages).
- MSFRP adds before the output ``tanh`` (the "final output feature map"), so the sum stays in [0, 1];
  the 1x1 conv has a bias.
- Widths are fitted to the budget (``trainer/skeleton.py``), HNeRV's 1.2 reduction shaping them, as the
  paper "reduces the number of channels across all network layers" to pay for HFSCM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..hfs_loss import hfs_loss
from ..layers import NeRVBlock, UpConv, conv, out_image
from ..registry import register_model
from ..skeleton import NeRVConfig, NeRVSkeleton, stem
from ..wavelets import HaarDWT


@dataclass
class HFSHNeRVConfig(NeRVConfig):
    attn_reduction: int = 5
    """``r``: channel reduction of the channel-attention MLP and of the spatial attention's first conv."""
    attn_kernel: int = 7
    """``k``: kernel of both spatial-attention convs (Table 3's trade-off)."""
    enhance: tuple[float, float, float, float] = (1.0, 2.0, 2.0, 2.0)
    """Enhancement weights ``Phi_1..Phi_4`` of the LL, HL, LH, HH bands (Eq. 11-14); see module docstring."""
    reuse_stage: int = 3
    """MSFRP source: output of this up-sampling stage (1-based; 3 of 5 = third-to-last, Table 5)."""
    hfs_cutoff: int = 17
    """``m``: half side of the zeroed low-frequency square of the HFS mask, in spectrum bins (Table 7)."""
    hfs_gain: float = 3.0
    """``g``: gain on the kept high frequencies (Table 8)."""
    hfs_weight: float = 0.12
    """``beta``: weight of the HFS loss next to MSE (Eq. 24)."""

    def __post_init__(self):
        super().__post_init__()
        self.enhance = tuple(self.enhance)
        if len(self.enhance) != 4 or not 1 <= self.reuse_stage <= len(self.strides):
            raise ValueError("enhance needs 4 weights and reuse_stage a stage number 1..len(strides)")


class ChannelAttention(nn.Module):
    """Eq. 1-2: ``F2 = F1 * sigmoid(W2 GELU(W1 F1)) + F1``; ``W1: C -> C/r``, ``W2: C/r -> C`` per pixel.

    ``[N, C, H, W] -> [N, C, H, W]``.
    """

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.gelu(self.fc1(x)))) + x


class HaarSpatialAttention(nn.Module):
    """Eq. 10-16: ``F3 = F2 * S + F2`` with the one-channel Haar-enhanced spatial map ``S``.

    ``R = Conv_k(F2)`` ``[N, C/r, H, W]``; ``(LL, HL, LH, HH) = DWT(R)`` (Eq. 8) each ``[N, C/r, H/2, W/2]``;
    ``B_i = Phi_i Up2x(band_i) + R``; ``S = sigmoid(Conv_k(GELU([F2, B_LL, B_HL, B_LH, B_HH])))``
    ``[N, 1, H, W]``. Odd sizes: the DWT zero-pads, the up-sampled bands are cropped back to ``H, W``.
    """

    def __init__(self, channels: int, reduction: int, kernel: int, enhance: tuple[float, ...]):
        super().__init__()
        reduced = max(channels // reduction, 1)
        self.reduce = conv(channels, reduced, kernel)
        self.dwt = HaarDWT()
        self.attend = conv(channels + 4 * reduced, 1, kernel)
        self.register_buffer("enhance", torch.tensor(enhance, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        r = self.reduce(x)
        ll, high = self.dwt(r)
        # Eq. 8's LL, HL, LH, HH are pytorch_wavelets' ll, band 0, band 1, band 2 (module docstring).
        # One band at a time, so the exported graph keeps static shapes (no Reshape of computed sizes).
        branches = [x]
        for i, band in enumerate((ll, *high.unbind(2))):
            up = F.interpolate(band, scale_factor=2.0, mode="bilinear", align_corners=False)
            if up.shape[-2:] != (h, w):  # odd H or W: the DWT padded, crop back
                up = up[..., :h, :w]
            branches.append(self.enhance[i] * up + r)
        return x * torch.sigmoid(self.attend(F.gelu(torch.cat(branches, dim=1)))) + x


class HFSCM(nn.Module):
    """Eq. 17 with HFSAM = channel then Haar spatial attention: ``Conv3(GELU(Conv3(GELU(HFSAM(F1))))) + F1``.

    ``[N, C, H, W] -> [N, C, H, W]``.
    """

    def __init__(self, channels: int, reduction: int, kernel: int, enhance: tuple[float, ...]):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = HaarSpatialAttention(channels, reduction, kernel, enhance)
        self.conv1 = conv(channels, channels, 3)
        self.conv2 = conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.spatial(self.channel(x))
        return self.conv2(F.gelu(self.conv1(F.gelu(y)))) + x


class HFSBlock(nn.Module):
    """HFS-HNeRV block (Fig. 3c): ``HFSCM(GELU(PixelShuffle(conv_k(x), s)))``; ``[N, C_in, h, w] ->
    [N, C_out, s h, s w]``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, c: HFSHNeRVConfig):
        super().__init__()
        self.spc = NeRVBlock(UpConv(in_ch, out_ch, kernel, stride))
        self.hfscm = HFSCM(out_ch, c.attn_reduction, c.attn_kernel, c.enhance)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hfscm(self.spc(x))


# tiny frames (e.g. 32x64): m = 17 would zero almost the whole spectrum, so the test variant uses m = 4
@register_model("test-hfs-hnerv", tiny={"hfs_cutoff": 4})
@register_model("hfs-hnerv")
class HFSHNeRV(NeRVSkeleton):
    """HFS-HNeRV; ``decode(embed [N, embed_dim, h, w]) -> frames [N, 3, H, W]`` in [0, 1]."""

    config_cls = HFSHNeRVConfig

    def __init__(self, config: HFSHNeRVConfig):
        super().__init__(config)
        c = config
        self.stem = stem(c)
        self.stages = nn.ModuleList(HFSBlock(*spec, c) for spec in c.stage_specs())
        self.head = nn.Conv2d(c.widths[-1], 3, 3, 1, 1)
        self.reuse = nn.Conv2d(c.widths[c.reuse_stage], 3, 1)
        self.reuse_scale = float(np.prod(c.strides[c.reuse_stage:]))

    def decode(self, embed: torch.Tensor) -> torch.Tensor:
        x = self.stem(embed)
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if i == self.config.reuse_stage:
                skip = self.reuse(x)
        skip = F.interpolate(skip, scale_factor=self.reuse_scale, mode="bilinear", align_corners=False)
        return out_image(self.head(x) + skip)

    def loss(self, frames: torch.Tensor):
        """Eq. 24: ``MSE + beta * HFS`` with the config's ``m``, ``g``, ``beta``; terms ``mse``, ``hfs``."""
        c = self.config
        recon = self(frames)
        terms = {"mse": F.mse_loss(recon, frames), "hfs": hfs_loss(recon, frames, c.hfs_cutoff, c.hfs_gain)}
        return terms["mse"] + c.hfs_weight * terms["hfs"], recon, terms

"""CF-NeRV (Yu, Chang, Ouyang, Pan, Huang, "Video Implicit Neural Representation Based on Feature
Calibration and Frequency Decoupling", Computer Science and Application 2026, 16(2)).

HNeRV's encoder, embedding and 1x1 stem (``trainer/skeleton.py``), strides 5,4,4,2,2 at 640x1280, GELU and
no normalisation (Sec. 4.1). Decoder:

- five CFC-Blocks (Eq. 1): ``F_out = GELU(PixelShuffle(conv_k(Phi_calib(F_in))))`` (``N`` = identity,
  no norm), HNeRV's kernels 1,3,5,5,5. ``Phi_calib(X) = U_s + U_c`` (scSE), with the spatial gate
  ``U_s = X * sigmoid(W_s X)`` (1x1 conv to one channel, Eq. 2) and the channel gate
  ``U_c = X * sigmoid(W_2 ReLU(W_1 GAP(X)))`` (squeeze-excite, 1x1 convs ``C -> C/r -> C``, Eq. 3);
- FARM on the last features (Eq. 4-6): ``F_low = AvgPool(F)``, ``F_high = F - F_low``;
  ``F~_low = DilatedConv3(F_low)`` (d = 2); ``F~_high = F_high * sigmoid(DWConv3(F_high)) * alpha``
  (alpha = 2); ``F_refined = F + lambda_res * Conv1x1([F~_low, F~_high])`` (lambda_res learnable, 0.1);
- ERRH (Eq. 7): ``I = A(Conv3_main(F) + beta * Conv3_err(F))``, beta learnable (0.1), ``A`` = HNeRV's
  ``tanh / 2 + 1/2``.

Loss: the base MSE (the paper trains for "global mean squared error" and names no other term).

Choices where the paper is silent (each written here because the paper does not fix it):

- SE reduction ``r = 4`` (``C/r`` floored at 1): decoder widths are 12-90 channels, so SENet's 16 would
  leave 1-5 hidden units; biases on every 1x1 conv.
- The calibration is in every up-sampling block, not in the 1x1 stem (it only widens the embedding).
- The low-pass filter is a 3x3 average pool with stride 1 and padding 1, counting only in-image pixels
  (``count_include_pad=False``): the split of Eq. 4 needs ``F_low`` at full size ("avoid the loss of
  down-sampling"), and a constant map stays all-low at the borders.
- The dilated conv is 3x3, ``C -> C``; the depthwise gate conv is 3x3; no activation after either (Eq. 6
  fuses them directly).
- ``alpha`` is a buffer (a fixed code constant in the paper); ``lambda_res`` and ``beta`` are parameters.
  All three have shape ``[1]`` rather than 0-d, so every weight-handling step (quantisation, packaging)
  sees an ordinary array.
- Widths are fitted to the budget (``trainer/skeleton.py``) with HNeRV's 1.2 reduction shaping them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import UpConv, conv, out_image
from ..registry import register_model
from ..skeleton import NeRVConfig, NeRVSkeleton, stem


@dataclass
class CFNeRVConfig(NeRVConfig):
    se_reduction: int = 4
    """``r``: channel squeeze of the CFC-Block's squeeze-excite gate (``C -> C/r -> C``)."""
    pool_kernel: int = 3
    """FARM low-pass: side of the stride-1 average pool."""
    dilation: int = 2
    """FARM low band: dilation of its 3x3 conv (``d = 2``)."""
    alpha: float = 2.0
    """FARM high band: fixed amplification of the gated high frequencies (Eq. 5)."""
    res_scale: float = 0.1
    """FARM: initial value of the learnable residual scale ``lambda_res`` (Eq. 6)."""
    err_scale: float = 0.1
    """ERRH: initial value of the learnable error-head weight ``beta`` (Eq. 7)."""


class Calibration(nn.Module):
    """``Phi_calib`` (Eq. 2-3): ``X * sigmoid(W_s X) + X * sigmoid(W_2 ReLU(W_1 GAP(X))))``.

    ``[N, C, H, W] -> [N, C, H, W]``; the spatial gate is ``[N, 1, H, W]``, the channel gate ``[N, C, 1, 1]``.
    """

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.spatial = nn.Conv2d(channels, 1, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.spatial(x)) + x * torch.sigmoid(self.fc2(F.relu(self.fc1(z))))


class CFCBlock(nn.Module):
    """CFC-Block (Eq. 1): ``GELU(PixelShuffle(conv_k(Phi_calib(x)), s))``; ``[N, C_in, h, w] ->
    [N, C_out, s h, s w]``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, reduction: int):
        super().__init__()
        self.calib = Calibration(in_ch, reduction)
        self.conv = UpConv(in_ch, out_ch, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.conv(self.calib(x)))


class FARM(nn.Module):
    """Frequency-aware refinement (Eq. 4-6); ``[N, C, H, W] -> [N, C, H, W]``, see module docstring."""

    def __init__(self, channels: int, c: CFNeRVConfig):
        super().__init__()
        self.pool_kernel = c.pool_kernel
        self.low = conv(channels, channels, 3, dilation=c.dilation)
        self.gate = conv(channels, channels, 3, groups=channels)
        self.fuse = nn.Conv2d(2 * channels, channels, 1)
        self.register_buffer("alpha", torch.tensor([c.alpha]))
        self.res_scale = nn.Parameter(torch.tensor([c.res_scale]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = F.avg_pool2d(x, self.pool_kernel, 1, self.pool_kernel // 2, count_include_pad=False)
        high = x - low
        high = high * torch.sigmoid(self.gate(high)) * self.alpha
        return x + self.res_scale * self.fuse(torch.cat([self.low(low), high], dim=1))


class ERRH(nn.Module):
    """Error-aware reconstruction head (Eq. 7): ``out_image(main(x) + beta * err(x))``; ``[N, C, H, W] ->
    [N, 3, H, W]`` in [0, 1]."""

    def __init__(self, channels: int, err_scale: float):
        super().__init__()
        self.main = conv(channels, 3, 3)
        self.err = conv(channels, 3, 3)
        self.beta = nn.Parameter(torch.tensor([err_scale]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return out_image(self.main(x) + self.beta * self.err(x))


@register_model("test-cf-nerv", tiny={})
@register_model("cf-nerv")
class CFNeRV(NeRVSkeleton):
    """CF-NeRV; ``decode(embed [N, embed_dim, h, w]) -> frames [N, 3, H, W]`` in [0, 1]."""

    config_cls = CFNeRVConfig

    def __init__(self, config: CFNeRVConfig):
        super().__init__(config)
        c = config
        self.stem = stem(c)
        self.stages = nn.ModuleList(CFCBlock(*spec, c.se_reduction) for spec in c.stage_specs())
        self.farm = FARM(c.widths[-1], c)
        self.head = ERRH(c.widths[-1], c.err_scale)

    def decode(self, embed: torch.Tensor) -> torch.Tensor:
        x = self.stem(embed)
        for stage in self.stages:
            x = stage(x)
        return self.head(self.farm(x))

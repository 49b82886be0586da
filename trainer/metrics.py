"""Quality metrics on [0, 1] frames ``[N, 3, H, W]``: PSNR and MS-SSIM, one value per frame.

The definitions and the MS-SSIM algorithm are :mod:`nervkit.runtime.quality`'s (shared with ``nerv-rd``);
here the Gaussian filter and the pooling are PyTorch ops, so metrics run on the training device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..runtime.quality import gaussian_window, ms_ssim_with, ssim_terms


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR in dB of ``[N, C, H, W]`` tensors in [0, 1] -> ``[N]``."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def _blur(x: torch.Tensor) -> torch.Tensor:
    g = torch.as_tensor(gaussian_window(), dtype=x.dtype, device=x.device)
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _halve(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2, padding=[n % 2 for n in x.shape[-2:]])


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame single-scale SSIM -> ``[N]``."""
    return ssim_terms(pred.float(), target.float(), _blur)[0]


def ms_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame MS-SSIM of ``[N, C, H, W]`` tensors in [0, 1] -> ``[N]`` (see :mod:`nervkit.runtime.quality`)."""
    return ms_ssim_with(pred.float(), target.float(), _blur, _halve)

"""Quality metrics on [0, 1] frames ``[N, 3, H, W]``: PSNR, SSIM and MS-SSIM, one value per frame, in torch.

PSNR is ``-10 log10(MSE)`` per frame over all three channels (HNeRV's ``psnr_fn_single``). SSIM and
MS-SSIM are Wang, Simoncelli and Bovik (2003) as ``pytorch_msssim`` (the official codes' metric) computes
them: 11-tap Gaussian window (sigma 1.5) as a valid separable convolution, K1 = 0.01, K2 = 0.03, five
scales weighted 0.0448 ... 0.1333 with 2x2 average pooling between scales (an odd side zero-padded on
both sides, the padding counted, as ``avg_pool2d(padding=1)`` does). Frames too small for five scales
(short side <= 160 pixels) use as many scales as fit, their weights renormalised to sum to one, instead of
failing as pytorch_msssim does. The ops are PyTorch's, so metrics run on the training device and SSIM is
differentiable (the SSIM loss terms use it). ``nerv-rd`` computes the same definitions in numpy
(``nervkit.runtime.quality``, torch-free); the tests check both against pytorch_msssim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR in dB of ``[N, C, H, W]`` tensors in [0, 1] -> ``[N]`` (MSE floored at 1e-12)."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The valid separable Gaussian filter over H and W: ``[N, C, H, W] -> [N, C, H-10, W-10]``."""
    t = torch.arange(WIN, dtype=x.dtype, device=x.device) - WIN // 2
    g = torch.exp(-(t**2) / (2 * SIGMA**2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _terms(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame mean SSIM and mean contrast-structure term -> ``[N]`` each."""
    mx, my = _blur(x), _blur(y)
    vx, vy = _blur(x * x) - mx * mx, _blur(y * y) - my * my
    cov = _blur(x * y) - mx * my
    cs = (2 * cov + C2) / (vx + vy + C2)
    lum = (2 * mx * my + C1) / (mx * mx + my * my + C1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame single-scale SSIM -> ``[N]``."""
    return _terms(pred.float(), target.float())[0]


def ms_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame MS-SSIM of ``[N, C, H, W]`` tensors in [0, 1] -> ``[N]`` (at least 11 pixels a side)."""
    x, y = pred.float(), target.float()
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and min(x.shape[-2:]) // 2**levels >= WIN:
        levels += 1
    total = sum(MS_SSIM_WEIGHTS[:levels])
    out = torch.ones(len(x), dtype=x.dtype, device=x.device)
    for level in range(levels):
        s, cs = _terms(x, y)
        out = out * (s if level == levels - 1 else cs).clamp_min(0) ** (MS_SSIM_WEIGHTS[level] / total)
        if level < levels - 1:
            pad = [n % 2 for n in x.shape[-2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    return out

"""Quality metrics on [0, 1] frames ``[N, 3, H, W]``: PSNR and MS-SSIM, one value per frame.

PSNR is HNeRV's ``psnr_fn_single``: ``-10 log10(mean squared error)`` with peak 1. MS-SSIM follows
Wang, Simoncelli and Bovik (2003) as ``pytorch_msssim`` computes it (11-tap Gaussian window, sigma 1.5,
valid convolution, K1 = 0.01, K2 = 0.03, five scales with weights 0.0448 ... 0.1333, 2x2 average pooling
between scales, odd sides padded). Frames too small for five scales (short side <= 160 pixels) use as
many scales as fit, with the weights of those scales renormalised to sum to one, instead of failing as
pytorch_msssim does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN, _SIGMA = 11, 1.5


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR in dB of ``[N, C, H, W]`` tensors in [0, 1] -> ``[N]``."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def _gauss_window(device, dtype) -> torch.Tensor:
    x = torch.arange(_WIN, dtype=dtype, device=device) - _WIN // 2
    g = torch.exp(-(x**2) / (2 * _SIGMA**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame SSIM and contrast-structure term, averaged over channels and pixels -> ``[N]`` each."""
    c1, c2 = 0.01**2, 0.03**2
    mx, my = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mx * mx
    syy = _blur(y * y, g) - my * my
    sxy = _blur(x * y, g) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs
    return ssim.flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame single-scale SSIM -> ``[N]``."""
    g = _gauss_window(pred.device, torch.float32)
    return _ssim_cs(pred.float(), target.float(), g)[0]


def ms_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame MS-SSIM of ``[N, C, H, W]`` tensors in [0, 1] -> ``[N]`` (see module docstring)."""
    x, y = pred.float(), target.float()
    g = _gauss_window(x.device, x.dtype)
    side = min(x.shape[-2:])
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and side // 2**levels >= _WIN:
        levels += 1
    weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], device=x.device)
    weights = weights / weights.sum()
    terms = []
    for level in range(levels):
        s, cs = _ssim_cs(x, y, g)
        if level < levels - 1:
            terms.append(torch.relu(cs))
            pad = [n % 2 for n in x.shape[-2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
        else:
            terms.append(torch.relu(s))
    stacked = torch.stack(terms, dim=0)  # [levels, N]
    return torch.prod(stacked ** weights[:, None], dim=0)

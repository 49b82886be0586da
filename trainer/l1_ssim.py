"""The L1 + SSIM training loss shared by the wavelet families (SNeRV, HFE-HNeRV).

SNeRV's Eq. (2), which is also HNeRV's ``Fusion6`` loss that both papers train with::

    L(I, I_hat) = alpha * mean|I - I_hat| + (1 - alpha) * (1 - SSIM(I, I_hat)),   alpha = 0.7

``SSIM`` is the single-scale SSIM of :mod:`.metrics` (11-tap Gaussian window, sigma 1.5, valid
convolution, constants for a data range of 1), averaged over frames. It is used unchanged on wavelet
coefficients, whose range is not [0, 1]; SNeRV's code does the same (``data_range=1`` everywhere).
"""

from __future__ import annotations

import torch

from .metrics import ssim

ALPHA = 0.7
"""Weight of the L1 term (SNeRV Sec. 3.5; its Table 3c shows 0.7 best)."""


def l1_ssim_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """Scalar loss of ``[N, C, H, W]`` tensors (H and W at least 11 for the SSIM window)."""
    l1 = (pred - target).abs().mean()
    return alpha * l1 + (1.0 - alpha) * (1.0 - ssim(pred, target).mean())

"""HFS-HNeRV's high-frequency spectrum (HFS) loss (Zhao, Li, Chong, Electronics 2025, Sec. 3.3).

``L_HFS = mean( (iFFT(g M FFT(pred)) - iFFT(g M FFT(gt)))^2 )`` (Eq. 23) over pixels and channels, with
``FFT`` the 2-D DFT of each channel (``torch.fft.fft2``, Eq. 20-21), zero frequency shifted to the centre,
``M`` a binary high-pass mask that zeroes the ``(2m)^2`` square centred at ``(H/2, W/2)`` of the shifted
spectrum, and ``g`` the high-frequency gain. The total loss is ``L_MSE + beta * L_HFS`` (Eq. 24) with
``m = 17``, ``g = 3`` and ``beta = 0.12`` (Tables 7-8, Sec. 3.3).

Choices where the paper is silent:

- The square spans shifted rows ``[H/2 - m, H/2 + m)`` and columns ``[W/2 - m, W/2 + m)`` (integer
  ``H/2``, clipped to the spectrum), i.e. frequencies ``-m .. m-1`` on each axis. That square is not
  symmetric under ``f -> -f``, so the filtered image is complex; the loss uses its real part, the image a
  real-valued high-pass filter of the same mask would keep.
- ``m`` is in spectrum bins, not scaled with the frame size (the paper tunes it at 640x1280 only).
- By linearity Eq. 23 is evaluated as one FFT of ``pred - gt`` rather than two; the value is the same.
"""

from __future__ import annotations

import torch


def highpass_mask(height: int, width: int, cutoff: int, device=None) -> torch.Tensor:
    """The shifted-spectrum mask ``M`` ``[H, W]``: 0 on the centred ``(2m)^2`` square, 1 elsewhere."""
    mask = torch.ones(height, width, device=device)
    r, c = height // 2, width // 2
    mask[max(r - cutoff, 0):r + cutoff, max(c - cutoff, 0):c + cutoff] = 0.0
    return mask


def hfs_loss(pred: torch.Tensor, target: torch.Tensor, cutoff: int = 17, gain: float = 3.0) -> torch.Tensor:
    """Eq. 23 for frames ``[..., H, W]`` (any leading dims): scalar mean over every element."""
    h, w = pred.shape[-2:]
    spectrum = torch.fft.fftshift(torch.fft.fft2(pred - target), dim=(-2, -1))
    spectrum = spectrum * (gain * highpass_mask(h, w, cutoff, pred.device))
    high = torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1))).real
    return high.pow(2).mean()

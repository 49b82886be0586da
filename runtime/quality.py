"""Per-frame PSNR and MS-SSIM of uint8 frames in numpy, torch-free (``nerv-rd``, ``nerv-export``'s guard).

Definitions (the numbers ``nerv-rd`` reports, and ``nerv-train`` prints from its torch version in
``nervkit.trainer.metrics``): frames scaled to [0, 1], PSNR is ``-10 log10(MSE)`` per frame over all
three channels (HNeRV's ``psnr_fn_single``), and MS-SSIM is Wang, Simoncelli and Bovik (2003) as
``pytorch_msssim`` computes it: 11-tap Gaussian window (sigma 1.5) applied as a valid separable
convolution, K1 = 0.01, K2 = 0.03, up to five scales weighted 0.0448 ... 0.1333 with 2x2 average pooling
between scales (odd sides zero-padded on both sides and the padding counted, as
``avg_pool2d(padding=1)`` does). Frames too small for five scales (short side <= 160 pixels) use as many
scales as fit, with the weights of those scales renormalised to sum to one, instead of failing as
pytorch_msssim does. The tests check this and the trainer's torch version against pytorch_msssim.
"""

from __future__ import annotations

import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2
_CHUNK = 8
"""Frames per step: bounds the float64 working set to a few dozen frames' worth."""


def _unit(frames: np.ndarray) -> np.ndarray:
    """uint8 ``[n, H, W, 3]`` -> float64 ``[n, 3, H, W]`` in [0, 1]."""
    return frames.transpose(0, 3, 1, 2).astype(np.float64) / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB of uint8 ``[N, H, W, 3]`` frames (peak 255, MSE floored at 1e-12 of peak^2)."""
    diff = a.reshape(len(a), -1).astype(np.float64) - b.reshape(len(b), -1)
    mse = np.mean(diff * diff, axis=1) / 255.0**2
    return -10.0 * np.log10(np.maximum(mse, 1e-12))


def _gaussian_window() -> np.ndarray:
    """The normalised 11-tap Gaussian (sigma 1.5), float64 ``[11]``."""
    x = np.arange(WIN, dtype=np.float64) - WIN // 2
    g = np.exp(-(x**2) / (2 * SIGMA**2))
    return g / g.sum()


_G = _gaussian_window()


def _ssim_terms(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean SSIM and contrast-structure term of ``[n, C, H, W]`` images -> ``[n]`` each."""
    mx, my = _blur(x), _blur(y)
    vx, vy = _blur(x * x) - mx * mx, _blur(y * y) - my * my
    cov = _blur(x * y) - mx * my
    cs = (2 * cov + C2) / (vx + vy + C2)
    lum = (2 * mx * my + C1) / (mx * mx + my * my + C1)
    n = len(x)
    return (lum * cs).reshape(n, -1).mean(1), cs.reshape(n, -1).mean(1)


def _ms_ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-frame MS-SSIM of ``[n, C, H, W]`` images in [0, 1] -> ``[n]``."""
    side = min(x.shape[-2:])
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and side // 2**levels >= WIN:
        levels += 1
    total = sum(MS_SSIM_WEIGHTS[:levels])
    out = 1.0
    for level in range(levels):
        ssim, cs = _ssim_terms(x, y)
        term = ssim if level == levels - 1 else cs
        out = out * term.clip(min=0) ** (MS_SSIM_WEIGHTS[level] / total)
        if level < levels - 1:
            x, y = _halve(x), _halve(y)
    return out


def _blur(x: np.ndarray) -> np.ndarray:
    """The valid separable Gaussian over the last two axes: ``[..., H, W] -> [..., H-10, W-10]``."""
    w = x.shape[-1] - WIN + 1
    x = sum(_G[k] * x[..., k:k + w] for k in range(WIN))
    h = x.shape[-2] - WIN + 1
    return sum(_G[k] * x[..., k:k + h, :] for k in range(WIN))


def _halve(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling; an odd side gets one zero row/column on each side first (counted in the mean)."""
    pads = [(0, 0)] * (x.ndim - 2) + [(s % 2, s % 2) for s in x.shape[-2:]]
    x = np.pad(x, pads)
    h, w = (x.shape[-2] - 2) // 2 + 1, (x.shape[-1] - 2) // 2 + 1
    x = x[..., :2 * h, :2 * w]
    return x.reshape(*x.shape[:-2], h, 2, w, 2).mean(axis=(-3, -1))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame MS-SSIM of uint8 ``[N, H, W, 3]`` frames -> float64 ``[N]`` (at least 11 pixels a side)."""
    if min(a.shape[1:3]) < WIN:
        raise ValueError(f"MS-SSIM needs frames of at least {WIN} pixels a side, got {a.shape[1]}x{a.shape[2]}")
    return np.concatenate([_ms_ssim(_unit(a[i:i + _CHUNK]), _unit(b[i:i + _CHUNK]))
                           for i in range(0, len(a), _CHUNK)])

"""What the family tests share: one synthetic clip, a short training run, a numpy SSIM, and each real
family fitted to the papers' geometry.

PSNR (``-10 log10 MSE``, peak 1) and SSIM are written out here rather than imported, so the checks do not
lean on ``nervkit.trainer.metrics``. The SSIM follows Wang et al. (2004) directly in float64 numpy
(explicit 11x11 Gaussian windows, sigma 1.5, every valid position, K1 = 0.01, K2 = 0.03, data range 1).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from nervkit.trainer.registry import create_model

PAPER_HW = (640, 1280)
"""Frame size (H, W) of the papers' budgets (Bunny, UVG crops)."""
PAPER_FRAMES = 132
"""Frames of the papers' Bunny clip."""
BUDGETS_M = (0.35, 0.75, 1.5, 3.0)
"""Parameter budgets in millions (decoder + embeddings) the papers report."""


def clip(n: int = 8, h: int = 32, w: int = 64) -> torch.Tensor:
    """``[n, 3, h, w]`` in [0, 1]: colour waves drifting over time plus a fixed fine texture."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    texture = 0.1 * torch.rand(3, h, w, generator=gen)
    frames = [torch.stack([0.45 + 0.35 * torch.sin(7 * xx + 0.4 * t + c) * torch.cos(5 * yy - 0.6 * c)
                           for c in range(3)]) + texture for t in range(n)]
    return torch.stack(frames).clamp(0, 1)


def psnr_db(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float(-10 * torch.log10((pred.double() - target.double()).pow(2).mean()))


def train_psnr(model, frames: torch.Tensor, steps: int = 30, lr: float = 5e-3) -> tuple[float, float]:
    """PSNR of ``model(frames)`` before and after ``steps`` Adam steps on ``model.loss`` (the generic loop).

    Runs on one intra-op thread: tiny tensors gain nothing from more, and on a shared, oversubscribed
    machine two spinning threads made each step ~10x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        with torch.no_grad():
            inputs = model.clip_input(frames)
            before = psnr_db(model(inputs), frames)
        for _ in range(steps):
            loss = model.loss(inputs)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            after = psnr_db(model(inputs), frames)
    finally:
        torch.set_num_threads(threads)
    return before, after


def ssim_np(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two ``[N, C, H, W]`` arrays over frames, channels and valid window positions."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def mean(a):
        return (sliding_window_view(a, (11, 11), axis=(-2, -1)) * win).sum(axis=(-2, -1))

    mx, my = mean(x), mean(y)
    vx, vy, cxy = mean(x * x) - mx**2, mean(y * y) - my**2, mean(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def l1_ssim_np(pred, target, alpha: float = 0.7) -> float:
    """SNeRV Eq. (2): ``alpha mean|I - I_hat| + (1 - alpha)(1 - SSIM)``."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    return alpha * float(np.abs(pred - target).mean()) + (1 - alpha) * (1 - ssim_np(pred, target))


@functools.cache
def fitted(name: str, size: float):
    """Family ``name`` fitted to ``size`` M at :data:`PAPER_HW` with :data:`PAPER_FRAMES` frames, built on
    the meta device (no memory). Cached, as the fit is the slow part; callers must not change the model."""
    with torch.device("meta"):
        return create_model(name, PAPER_HW, PAPER_FRAMES, size)


def meta_encode(model) -> dict[str, torch.Tensor]:
    """``model.encode`` of one :data:`PAPER_HW` frame on the meta device: the per-frame shapes, no compute."""
    with torch.device("meta"), torch.no_grad():
        return model.encode(model.clip_input(torch.empty(1, 3, *PAPER_HW)))

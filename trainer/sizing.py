"""Turning a frame size and a parameter budget into strides and channel widths.

The budget counts decoder parameters plus the per-frame embeddings (the papers' "model size").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from ..runtime.errors import UserError

NUM_STAGES = 5
"""Up-sampling stages of every family's decoder (HNeRV, HFS-HNeRV, SNeRV, CF-NeRV all use five)."""


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def strides_for(frame_hw: tuple[int, int], min_embed: int = 2, stages: int = NUM_STAGES) -> list[int]:
    """Decoder strides for frames of ``frame_hw`` = (H, W) pixels.

    The total up-sampling ``P = prod(strides)`` is the largest divisor of gcd(H, W) that leaves the
    embedding at least ``min_embed`` pixels on its short side; P's prime factors are then merged
    (two smallest first) until ``stages`` remain, largest stride first. This reproduces the papers'
    choices: 640x1280 -> 5,4,4,2,2 (embedding 2x4), 1080x1920 -> 5,3,2,2,2 (9x16),
    160x320 -> 5,2,2,2,2 (2x4). Fewer prime factors than stages pad with stride 1.
    """
    h, w = frame_hw
    g = math.gcd(h, w)
    limit = min(h, w) // min_embed
    total = max(d for d in range(1, g + 1) if g % d == 0 and d <= limit)
    if total < 16:
        raise UserError(
            f"frame size {h}x{w} allows only {total}x up-sampling (needs a common factor of at least 16): "
            "use --crop or --resize to a size like 160x320 or 640x1280"
        )
    factors = sorted(_prime_factors(total), reverse=True)
    while len(factors) > stages:
        a, b = factors.pop(), factors.pop()
        factors.append(a * b)
        factors.sort(reverse=True)
    return factors + [1] * (stages - len(factors))


def kernel_sizes(ks_first: int, ks_max: int, stages: int = NUM_STAGES) -> list[int]:
    """HNeRV's growing kernels ``min(ks_first + 2 i, ks_max)``: 1,3,5,5,5 for ``--ks 0_1_5``."""
    return [min(ks_first + 2 * i, ks_max) for i in range(stages)]


def channel_widths(fc_dim: int, reduce: float, lower_width: int, stages: int = NUM_STAGES) -> list[int]:
    """Widths after each stage: ``c_{i+1} = max(round(c_i / reduce), lower_width)`` (official rule)."""
    widths, c = [fc_dim], fc_dim
    for _ in range(stages):
        c = int(max(round(c / reduce), lower_width))
        widths.append(c)
    return widths


def hnerv_fc_dim(size_m: float, frame_hw: tuple[int, int], num_frames: int, strides: list[int],
                 embed_dim: int, ks: tuple[int, int], reduce: float) -> int:
    """The official HNeRV sizing rule (``train_nerv_all.py``): solve ``a c^2 + b c = budget`` for c.

    ``budget = size_m * 1e6 - embedding parameters``; ``a = sum_i r^(2i+1) s_i^2 k_i^2`` with
    ``r = 1/reduce`` counts the up-sampling convs, ``b = 9 * embed_dim`` the first 1x1 conv term as the
    official code writes it. 1.5M at 640x1280, 132 frames gives 68, the published bunny checkpoint.
    """
    h, w = frame_hw
    total = int(np.prod(strides))
    embed_params = embed_dim * (h // total) * (w // total) * num_frames
    budget = size_m * 1e6 - embed_params
    if budget <= 0:
        raise UserError(f"--size {size_m}M is smaller than the embeddings alone ({embed_params / 1e6:.3f}M)")
    r = 1.0 / reduce
    kernels = kernel_sizes(ks[0], ks[1], len(strides))
    a = r * sum(r ** (2 * i) * s**2 * k**2 for i, (s, k) in enumerate(zip(strides, kernels)))
    b = embed_dim * 9
    return max(int(np.roots([a, b, -budget]).max().real), 1)


def fit_width(count: Callable[[int], int], target: int, lo: int = 4, hi: int = 4096) -> int:
    """Smallest-error integer width for a family whose parameter count grows with one width.

    ``count(width)`` returns the exact parameter count (decoder + embeddings) of the family built with
    that width; the search is a bisection on the monotone count, then the closer neighbour wins.
    """
    if count(lo) >= target:
        return lo
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if abs(count(lo) - target) <= abs(count(hi) - target) else hi


def fit_width_and_option(count: Callable[[int, int], int], target: int, options: Iterable[int]) -> tuple[int, int]:
    """:func:`fit_width` for a family with a second, discrete size knob (SNeRV's ``N_RB``, HFE's ``hf_dim``).

    ``count(width, option)`` is the exact parameter count. Options are tried in the order given (the
    preferred one first): the width is fitted for each, the closest count wins (the earlier option on a
    tie), and the search stops at the first option within 1 % of ``target``. Returns ``(width, option)``.
    """
    best = None
    for option in options:
        width = fit_width(lambda w, option=option: count(w, option), target)
        err = abs(count(width, option) - target)
        if best is None or err < best[0]:
            best = (err, width, option)
        if err <= 0.01 * target:
            break
    return best[1], best[2]

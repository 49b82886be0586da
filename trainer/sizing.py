"""Turning a frame size and a parameter budget into strides and channel widths: the one budget search.

The budget counts decoder parameters plus every per-frame value the decoder is fed (embeddings and side
information: the papers' "model size"). :func:`model_budget` is the one counter: it builds the real module on
the meta device (no memory) and counts its decoder parameters and what its ``encode`` returns per frame, so
the count can never drift from the architecture. :func:`fit_budget` is the one search: a family names the
integer knobs that size it (a base width, one stage's width, an embedding's channels ...) and each is set,
in order, to the value whose exact count is closest to the budget.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .errors import TrainerError

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
    total = max((d for d in range(1, g + 1) if g % d == 0 and d <= limit), default=1)
    if total < 16:
        raise TrainerError(
            f"frame size {h}x{w} allows only {total}x up-sampling (needs a common factor of at least 16): "
            "use --crop or --resize to a size like 160x320 or 640x1280"
        )
    return split_stride(total, stages)


def split_stride(total: int, stages: int) -> list[int]:
    """``total`` as ``stages`` strides: its prime factors, the two smallest merged until ``stages`` remain,
    largest first, padded with stride 1 (16 in 4 stages: 2,2,2,2; 160 in 5: 5,4,2,2,2)."""
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



@dataclass(frozen=True)
class Knob:
    """One integer a family's size depends on: ``set(config, value) -> config`` for ``lo <= value <= hi``."""

    set: Callable[[Any, int], Any]
    lo: int = 4
    hi: int = 4096


def base_width(reduce: float = 1.2, lower_width: int = 12) -> Knob:
    """Every width from the first one by HNeRV's rule :func:`channel_widths` (the official ``fc_dim``)."""
    return Knob(lambda c, v: dataclasses.replace(
        c, widths=channel_widths(v, reduce, lower_width, len(c.strides))))


def stage_width(i: int) -> Knob:
    """``widths[i]`` alone: a finer step than the base width (``widths[1]``: ~1% of 0.35M, ``widths[0]``: 0.2%)."""
    return Knob(lambda c, v: dataclasses.replace(c, widths=[*c.widths[:i], v, *c.widths[i + 1:]]))


def field_knob(name: str, lo: int, hi: int) -> Knob:
    """An integer config field (e.g. an embedding's channels) searched in ``lo..hi``."""
    return Knob(lambda c, v: dataclasses.replace(c, **{name: v}), lo, hi)


def model_budget(model_cls: type, config, num_frames: int) -> int:
    """Exact model size in the papers' sense: decoder parameters + ``num_frames`` x the values ``encode``
    returns per frame (embeddings and side information), both from the real module built on the meta device."""
    with torch.device("meta"):
        model = model_cls(config)
    return model.decoder_parameters() + num_frames * _per_frame_values(model_cls, config)


def _per_frame_values(model_cls: type, config) -> int:
    """Values ``encode`` returns per frame. The decoder widths never shape the encoder's outputs, so the
    count is cached per config without them: a budget search encodes once per embedding geometry."""
    key = (model_cls, repr(dataclasses.replace(config, widths=[0] * len(config.widths))))
    if key not in _PER_FRAME:
        with torch.device("meta"), torch.no_grad():
            model = model_cls(config)
            frames = torch.empty(model.input_index(1, torch.zeros(1, dtype=torch.long)).shape + (3, *config.frame_hw))
            embeds = model.encode(frames)
        _PER_FRAME[key] = sum(v[0].numel() for v in embeds.values())
    return _PER_FRAME[key]


_PER_FRAME: dict[tuple, int] = {}


def _closest(count: Callable[[int], int], target: int, lo: int, hi: int) -> int:
    """The integer in ``lo..hi`` whose count is closest to ``target`` (bisection on a count that grows with it)."""
    if count(lo) >= target:
        return lo
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if abs(count(lo) - target) <= abs(count(hi) - target) else hi


def fit_budget(model_cls: type, config, num_frames: int, size: float, knobs: Sequence[Knob],
               tolerance: float | None = 0.02):
    """``config`` with each knob, in order, set to the value whose :func:`model_budget` is closest to ``size`` M.

    A result further than ``tolerance`` (relative) from the budget is a user error; ``None`` accepts the
    closest count whatever it is (a family whose only knob moves in coarse steps).
    """
    target = int(round(size * 1e6))

    def count(cfg) -> int:
        return model_budget(model_cls, cfg, num_frames)

    for knob in knobs:
        value = _closest(lambda v, k=knob, c=config: count(k.set(c, v)), target, knob.lo, knob.hi)
        config = knob.set(config, value)
    got = count(config)
    if tolerance is not None and abs(got - target) > tolerance * target:
        h, w = config.frame_hw
        raise TrainerError(f"--size {size}M cannot be met within {tolerance:.0%} at {h}x{w} with {num_frames} frames: "
                        f"the closest {model_cls.__name__} has {got / 1e6:.3f}M parameters")
    return config

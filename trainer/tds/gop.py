"""Validating a group-of-pictures setting against a video (paper 003).

The layout and Algorithm 1's order are the runtime's (:mod:`nervkit.runtime.gop`), so the decoder and
the trainer run the same plan; this module adds the checks that need the video and the trained enhancer.
"""

from __future__ import annotations

from ...runtime.gop import GopLayout, check_gop, check_scale
from ..errors import TrainerError

PYRAMID = 4
"""The enhancer's feature pyramid (PCD, MTA, PSA) halves the frame twice: H and W must divide by 4."""


def make_layout(num_frames: int, height: int, width: int, gop: int, scale: int) -> GopLayout:
    """Validate the settings against the video and return its layout (``TrainerError`` on a bad setting).

    The LR frames are ``(H / scale) x (W / scale)`` and are coded as 4:2:0, so ``H`` and ``W`` must be
    multiples of ``2 * scale``; the enhancer's pyramid also needs multiples of 4.
    """
    check_gop(gop)
    check_scale(scale)
    if num_frames < gop:
        raise TrainerError(f"--gop {gop}: the video has only {num_frames} frames, fewer than one group")
    step = max(PYRAMID, 2 * scale)
    if height % step or width % step:
        raise TrainerError(f"{height}x{width} frames: with --scale {scale} height and width must be multiples "
                        f"of {step} (crop with --crop)")
    return GopLayout(num_frames, gop, scale)


def check_match(stored: dict, requested: dict) -> None:
    """Settings of an enhancer (``stored``: ``gop``, ``scale``, ...) must equal the ones asked for."""
    for key, value in requested.items():
        if value is not None and stored.get(key) != value:
            raise TrainerError(f"--{key} {value}: the enhancer was trained with {key} {stored.get(key)}")

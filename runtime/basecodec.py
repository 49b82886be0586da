"""Decoding a standard-codec bitstream (the base codec of temporal down-sampling, paper 003), torch-free.

A base stream is a raw Annex-B H.265 or H.264 bitstream (``x265`` / ``x264``); decoding it gives RGB
``uint8 [N, H, W, 3]`` in display order, optionally scaled to ``size`` = (H, W) with FFmpeg's bicubic
scaler (swscale, the paper's ``-sws_flags bicubic``): the up-sampling of the down-sampled frames.
YUV -> RGB uses swscale's default matrix (BT.601, limited range), the inverse of what the encoder side
used. PyAV is an optional dependency (the ``video`` extra); without it the error names the extra.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError

BASES = {"x265": ("libx265", "hevc"), "x264": ("libx264", "h264")}
"""Base codec name -> (PyAV encoder, PyAV decoder)."""


def require_av():
    """The ``av`` module, or a ``UserError`` naming the extra that installs it."""
    try:
        import av
    except ImportError:
        raise UserError("decoding the base-codec streams needs PyAV: pip install 'nervkit[video]'") from None
    return av


def check_base(base: str) -> None:
    if base not in BASES:
        raise UserError(f"--base {base!r}: choose one of {', '.join(BASES)}")


def decode(data: bytes, base: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a ``base`` bitstream to RGB ``uint8 [N, H, W, 3]`` (bicubic-scaled to ``size`` when given)."""
    check_base(base)
    av = require_av()
    ctx = av.CodecContext.create(BASES[base][1], "r")
    try:
        frames = []
        for packet in [*ctx.parse(data), *ctx.parse(None)]:
            frames += ctx.decode(packet)
        frames += ctx.decode(None)
    except av.FFmpegError as err:
        raise UserError(f"damaged {base} stream ({err})") from None
    if not frames:
        raise UserError(f"the {base} stream holds no frame")
    out = []
    for f in frames:
        if size is not None:
            f = f.reformat(width=size[1], height=size[0], format="rgb24", interpolation="BICUBIC")
        out.append(f.to_ndarray(format="rgb24"))
    return np.stack(out)

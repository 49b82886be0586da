"""Decoding a standard-codec bitstream (the base codec of temporal down-sampling, paper 003), torch-free.

A base stream is a raw Annex-B H.265 or H.264 bitstream (``x265`` / ``x264``); decoding it gives RGB
``uint8 [N, H, W, 3]`` in display order, optionally scaled to ``size`` = (H, W) with FFmpeg's bicubic
scaler (swscale, the paper's ``-sws_flags bicubic``): the up-sampling of the down-sampled frames.
YUV -> RGB uses swscale's default matrix (BT.601, limited range), the inverse of what the encoder side
used. PyAV is an optional dependency (the ``video`` extra); without it the error names the extra.
"""

from __future__ import annotations

import numpy as np

from .errors import PackageError, UserError

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


def decode(data: bytes, base: str, size: tuple[int, int] | None = None,
           expect: tuple[int, int, int] | None = None) -> np.ndarray:
    """Decode a ``base`` bitstream to RGB ``uint8 [N, H, W, 3]`` (bicubic-scaled to ``size`` when given).

    ``expect`` = (frames, coded height, coded width): what an untrusted stream (a package's) must hold;
    a frame of another size, or one frame more, is a ``PackageError`` as soon as it is decoded, so a
    hostile stream never makes more than that many frames exist.
    """
    check_base(base)
    av = require_av()
    ctx = av.CodecContext.create(BASES[base][1], "r")
    out = []

    def take(frames) -> None:
        for f in frames:
            if expect is not None and (len(out) == expect[0] or (f.height, f.width) != expect[1:]):
                raise PackageError(f"the {base} stream holds {len(out) + 1} or more frames of "
                                   f"{f.width}x{f.height}; the manifest says {expect[0]} of "
                                   f"{expect[2]}x{expect[1]}")
            if size is not None:
                f = f.reformat(width=size[1], height=size[0], format="rgb24", interpolation="BICUBIC")
            out.append(f.to_ndarray(format="rgb24"))

    try:
        for packet in [*ctx.parse(data), *ctx.parse(None)]:
            take(ctx.decode(packet))
        take(ctx.decode(None))
    except av.FFmpegError as err:
        raise UserError(f"damaged {base} stream ({err})") from None
    if not out or (expect is not None and len(out) != expect[0]):
        raise PackageError(f"the {base} stream holds {len(out)} frames; the manifest says {expect[0]}"
                           if out else f"the {base} stream holds no frame")
    return np.stack(out)

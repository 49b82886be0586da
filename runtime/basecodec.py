"""Decoding a base-codec stream (the base codec of temporal down-sampling, paper 003), torch-free.

A base stream is a raw Annex-B H.265 or H.264 bitstream (``x265`` / ``x264``), or a complete nervkit
package (``nvpkg``: a NeRV trained on that stream's frames, so the temporal scheme also serves our own
representations); decoding it gives RGB ``uint8 [N, H, W, 3]`` in display order, optionally scaled to
``size`` = (H, W) with FFmpeg's bicubic scaler (swscale, the paper's ``-sws_flags bicubic``): the
up-sampling of the down-sampled frames, the same call for every base. YUV -> RGB uses swscale's default
matrix (BT.601, limited range), the inverse of what the encoder side used. PyAV is an optional
dependency (the ``video`` extra); without it the error names the extra.

A nested package is opened with the runtime's own reader (every check of :mod:`.package` and the graph
rules applies to it) and decoded by ONNX Runtime on the CPU in fp32, on every machine, so what the
enhancer was trained on is what every decoder sees; it must have a per-frame plan (no nesting) and
exactly the frame count and size the outer package's layout gives, checked before anything is decoded.
"""

from __future__ import annotations

import numpy as np

from .errors import PackageError, UserError

BASES = {"x265": ("libx265", "hevc"), "x264": ("libx264", "h264")}
"""Standard base codec name -> (PyAV encoder, PyAV decoder)."""
NESTED = "nvpkg"
"""The base of a stream that is a nested nervkit package (per-frame plan)."""
NESTED_DECODE = {"backend": "ort-cpu", "precision": "fp32"}
"""How a nested package is decoded, everywhere (training included): reproducible across machines."""


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


def scale(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB ``uint8 [N, h, w, 3]`` -> ``[N, *size, 3]`` with swscale's bicubic filter (as :func:`decode`)."""
    av = require_av()
    return np.stack([av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(
        width=size[1], height=size[0], format="rgb24", interpolation="BICUBIC").to_ndarray(format="rgb24")
        for f in frames])


def decode_nested(data: bytes, expect: tuple[int, int, int] | None = None) -> np.ndarray:
    """The frames of a nested package (see the module docstring), ``uint8 [N, H, W, 3]``."""
    from .decoder import Decoder  # the package reader imports this module (through its plans)
    from .package import open_package

    with open_package(data) as pkg:
        if pkg.plan.kind != "per-frame":
            raise PackageError(f"a nested package must have a per-frame plan, not {pkg.plan.kind}")
        got = (pkg.num_frames, pkg.height, pkg.width)
        if expect is not None and got != tuple(expect):
            raise PackageError(f"the nested package holds {got[0]} frames of {got[1]}x{got[2]}; the manifest "
                               f"says {expect[0]} of {expect[1]}x{expect[2]}")
        with Decoder(pkg, batch=min(pkg.num_frames, 8), **NESTED_DECODE) as dec:
            return np.concatenate(list(dec.decode_frames()))


def decode(data: bytes, base: str, size: tuple[int, int] | None = None,
           expect: tuple[int, int, int] | None = None) -> np.ndarray:
    """Decode a ``base`` stream (a bitstream or a nested package) to RGB ``uint8 [N, H, W, 3]``
    (bicubic-scaled to ``size`` when given).

    ``expect`` = (frames, coded height, coded width): what an untrusted stream (a package's) must hold;
    a frame of another size, or one frame more, is a ``PackageError`` as soon as it is decoded, so a
    hostile stream never makes more than that many frames exist.
    """
    if base == NESTED:
        frames = decode_nested(data, expect)
        return frames if size is None else scale(frames, size)
    check_base(base)
    av = require_av()
    ctx = av.CodecContext.create(BASES[base][1], "r")
    out = []

    def take(frames) -> None:
        for f in frames:
            if expect is not None and (len(out) == expect[0] or (f.height, f.width) != expect[1:]):
                raise PackageError(f"the {base} stream holds {len(out) + 1} or more frames of "
                                   f"{f.height}x{f.width}; the manifest says {expect[0]} of "
                                   f"{expect[1]}x{expect[2]}")
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

"""The base codec's encoder: x265 / x264 through PyAV, and FFmpeg's bicubic scaler (paper 003 Sec. 3.1).

Frames are RGB ``uint8 [N, H, W, 3]``. Encoding converts each frame to 4:2:0 (at ``size`` when given,
with swscale's bicubic filter: the paper's ``-sws_flags bicubic``, one scaler call for resize and
colour conversion) and codes the sequence at a constant rate factor; the result is the raw Annex-B
bitstream, every byte of which is counted as rate. Decoding is the runtime's, torch-free
(:mod:`nervkit.runtime.basecodec`). Encoder threads are fixed to one so a bitstream is reproducible.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ...runtime.basecodec import BASES, check_base, require_av
from ..errors import TrainerError


def encode(frames: np.ndarray, base: str, crf: int, size: tuple[int, int] | None = None, fps: float = 24.0,
           preset: str = "medium") -> bytes:
    """Code ``frames`` (scaled to ``size`` = (H, W) first, when given) as one ``base`` bitstream."""
    check_base(base)
    av = require_av()
    if not 0 <= crf <= 51:
        raise TrainerError(f"--crf {crf}: must be between 0 and 51")
    h, w = size or frames.shape[1:3]
    ctx = av.CodecContext.create(BASES[base][0], "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.time_base = Fraction(1, 1000)
    ctx.framerate = Fraction(fps).limit_denominator(1000)
    ctx.options = {"crf": str(crf), "preset": preset} | (
        {"x265-params": "log-level=error:pools=1:frame-threads=1"} if base == "x265" else {"threads": "1"})
    packets = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(width=w, height=h, format="yuv420p", interpolation="BICUBIC")
        frame.pts = round(i * 1000 / fps)
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    return b"".join(bytes(p) for p in packets)


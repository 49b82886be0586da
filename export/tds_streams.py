"""The two base-codec streams of a temporal down-sampling video (paper 003 Sec. 3.1), torch-free.

Frames are RGB ``uint8 [N, H, W, 3]``. :func:`make_layout` checks a GOP setting against the video;
:func:`code` splits the video by its :class:`~nervkit.runtime.gop.GopLayout` into the HR key stream and
the LR stream and codes each with the base codec (:func:`encode`); :func:`decode` returns what a decoder
sees before enhancement (decoded key frames, and LR frames bicubic-up-sampled to full size).

:func:`encode` converts each frame to 4:2:0 (at ``size`` when given, with swscale's bicubic filter: the
paper's ``-sws_flags bicubic``, one scaler call for resize and colour conversion) and codes the sequence
at a constant rate factor; the result is the raw Annex-B bitstream, every byte of which is counted as
rate. Decoding is the runtime's (:mod:`nervkit.runtime.basecodec`). Encoder threads are fixed to one so
a bitstream is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..runtime import basecodec
from ..runtime.errors import UserError
from ..runtime.gop import GopLayout, check_gop, check_scale
from ..trainer.tds.enhancer import PYRAMID


@dataclass
class Streams:
    """The two coded streams of one video (``key``: HR key frames, ``lr``: down-sampled frames).

    ``base``: ``x264``/``x265``, or the nervkit family whose packages the streams are (:mod:`.tds_nerv`;
    ``crf`` is then ``None``)."""

    layout: GopLayout
    base: str
    crf: int | None
    height: int
    width: int
    key: bytes
    lr: bytes

    @property
    def bits(self) -> int:
        return 8 * (len(self.key) + len(self.lr))

    @property
    def codec(self) -> str:
        """The runtime's base codec of the streams (:data:`nervkit.runtime.basecodec.NESTED` for a family)."""
        return self.base if self.base in basecodec.BASES else basecodec.NESTED


def make_layout(num_frames: int, height: int, width: int, gop: int, scale: int) -> GopLayout:
    """Validate the settings against the video and return its layout (``UserError`` on a bad setting).

    The LR frames are ``(H / scale) x (W / scale)`` and are coded as 4:2:0, so ``H`` and ``W`` must be
    multiples of ``2 * scale``; the enhancer's pyramid also needs multiples of :data:`PYRAMID`.
    """
    check_gop(gop)
    check_scale(scale)
    if num_frames < gop:
        raise UserError(f"--gop {gop}: the video has only {num_frames} frames, fewer than one group")
    step = max(PYRAMID, 2 * scale)
    if height % step or width % step:
        raise UserError(f"{height}x{width} frames: with --scale {scale} height and width must be multiples "
                        f"of {step} (crop with --crop)")
    return GopLayout(num_frames, gop, scale)


def check_match(stored: dict, requested: dict) -> None:
    """Settings of an enhancer (``stored``: ``gop``, ``scale``, ...) must equal the ones asked for."""
    for key, value in requested.items():
        if value is not None and stored.get(key) != value:
            raise UserError(f"--{key} {value}: the enhancer was trained with {key} {stored.get(key)}")


def encode(frames: np.ndarray, base: str, crf: int, size: tuple[int, int] | None = None, fps: float = 24.0,
           preset: str = "medium") -> bytes:
    """Code ``frames`` (scaled to ``size`` = (H, W) first, when given) as one ``base`` bitstream."""
    basecodec.check_base(base)
    av = basecodec.require_av()
    if not 0 <= crf <= 51:
        raise UserError(f"--crf {crf}: must be between 0 and 51")
    h, w = size or frames.shape[1:3]
    ctx = av.CodecContext.create(basecodec.BASES[base][0], "w")
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


def code(frames: np.ndarray, layout: GopLayout, base: str, crf: int, fps: float = 24.0) -> Streams:
    """Code the key frames at full size and the others down-sampled by ``layout.scale`` (same CRF)."""
    n, h, w, _ = frames.shape
    lr_size = (h // layout.scale, w // layout.scale)
    key = encode(frames[layout.key_frames()], base, crf, fps=fps)
    lr = encode(frames[layout.lr_frames()], base, crf, size=lr_size, fps=fps)
    return Streams(layout, base, crf, h, w, key, lr)


def decode(streams: Streams) -> np.ndarray:
    """Decoded key frames and up-sampled decoded LR frames in display order, ``uint8 [N, H, W, 3]``."""
    lay, hw = streams.layout, (streams.height, streams.width)
    out = np.empty((lay.num_frames, *hw, 3), np.uint8)
    out[lay.key_frames()] = basecodec.decode(streams.key, streams.codec)
    out[lay.lr_frames()] = basecodec.decode(streams.lr, streams.codec, size=hw)
    return out

"""Standard-codec anchors for ``nerv-rd``: x264, x265 and SVT-AV1 through PyAV, 8-bit 4:2:0, at a CRF.

Colour handling, the same for every codec: the source RGB frames are converted to 8-bit yuv420p with
BT.601 limited-range coefficients and bicubic chroma filtering (what ``ffmpeg -i %04d.png -pix_fmt
yuv420p`` does by default, the way the NeRV papers fed their codec baselines), encoded, decoded, and
converted back to RGB with the same matrix; PSNR and MS-SSIM are then measured on RGB against the
source frames, exactly as for a package. The conversion alone (no coding) costs a little quality;
:func:`conversion_ceiling` measures it. Each anchor is one Matroska file and its size counts every
byte of it (container included). Encoders run with their defaults but for the stated preset; the
whole clip is one group of pictures where the encoder allows (x264 and x265 key frames every 250 frames).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from nervkit.runtime.atomic import AtomicOutput
from nervkit.runtime.errors import UserError

_YUV = {"format": "yuv420p", "interpolation": "BICUBIC"}
_TO_YUV = {**_YUV, "dst_colorspace": "ITU601", "dst_color_range": "MPEG"}
_TO_RGB = {"format": "rgb24", "interpolation": "BICUBIC", "src_colorspace": "ITU601", "src_color_range": "MPEG"}


@dataclass(frozen=True)
class Codec:
    """One encoder and its rate-control range."""

    name: str
    """PyAV / FFmpeg encoder name."""
    label: str
    crf_min: float
    crf_max: float
    """The encoder's CRF range."""
    crf_start: float
    """First CRF of a sweep (about 0.1-0.3 bpp at 160x320)."""
    crf_step: float
    """Ladder step: roughly a 0.6x-0.7x change of rate per step."""
    integer_crf: bool
    options: dict = field(default_factory=dict)


CODECS = {c.name: c for c in (
    Codec("libx264", "x264", 0, 51, 26, 4, False, {"preset": "medium"}),
    Codec("libx265", "x265", 0, 51, 30, 4, False, {"preset": "medium", "x265-params": "log-level=error"}),
    Codec("libsvtav1", "SVT-AV1", 1, 63, 40, 6, True, {"preset": "8"}),
)}


def codec(name: str) -> Codec:
    if name not in CODECS:
        raise UserError(f"--codecs: unknown codec {name!r}; choose from {', '.join(CODECS)}")
    return CODECS[name]


def _av():
    try:
        import av
    except ImportError:
        raise UserError("nerv-rd encodes its anchors with PyAV: pip install 'nervkit[video]'") from None
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration banner otherwise
    return av


def check_frames(frames: np.ndarray) -> None:
    """4:2:0 needs even sides."""
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise UserError(f"codec anchors are 4:2:0 and need an even frame size, the source is {h}x{w}")


def encode(frames: np.ndarray, spec: Codec, crf: float, path: str | Path, fps: float = 24.0) -> int:
    """Encode uint8 RGB ``[N, H, W, 3]`` at ``crf`` into the Matroska file ``path``; returns its size in bytes."""
    av = _av()
    crf = round(crf) if spec.integer_crf else round(crf, 2)
    with AtomicOutput(path) as tmp, av.open(str(tmp.path), "w", format="matroska") as out:
        stream = out.add_stream(spec.name, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), **spec.options}
        for frame in frames:
            yuv = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(**_TO_YUV)
            out.mux(stream.encode(yuv))
        out.mux(stream.encode())
    return os.path.getsize(path)


def decode(path: str | Path) -> tuple[np.ndarray, float]:
    """Decode every frame of ``path`` to uint8 RGB ``[N, H, W, 3]``; also the seconds it took (decoding
    and the conversion to RGB, all threads the decoder wants: what a player pays per frame)."""
    av = _av()
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = [f.reformat(**_TO_RGB).to_ndarray() for f in container.decode(stream)]
    return np.stack(frames), time.perf_counter() - start


def conversion_ceiling(frames: np.ndarray) -> np.ndarray:
    """The frames after RGB -> yuv420p -> RGB alone (no coding): the best any anchor can reach."""
    av = _av()
    out = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(**_TO_YUV).reformat(**_TO_RGB).to_ndarray()
           for f in frames]
    return np.stack(out)

"""Where ``nerv-play --output`` puts frames: a .y4m file or stdout, an .mp4/.mkv, or a PNG folder.

Every sink is a context manager that receives uint8 RGB frames ``[H, W, 3]`` in order and either
commits the whole output on a clean exit or leaves nothing behind: files are written to a temporary
name beside the target and renamed at the end, a PNG folder is filled as a hidden temporary folder and
renamed. Only stdout streams as it goes (a pipe cannot be taken back).
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nervkit.runtime.atomic import AtomicOutput, check_writable
from nervkit.runtime.errors import UserError

VIDEO_FORMATS = {".mp4": "mp4", ".mkv": "matroska"}

_YUV_MATRIX = np.array([[299, 587, 114], [-10546, -20704, 31250], [31250, -26168, -5082]], np.float32)
_YUV_OFFSET = np.array([[0], [8_000_000], [8_000_000]], np.float32)
_YUV_DIVISOR = np.array([[1000], [62_500], [62_500]], np.float32)
"""T.871's coefficients as exact integer ratios: Y = (299 R + 587 G + 114 B) / 1000, Cb = (8e6 - 10546 R
- 20704 G + 31250 B) / 62500 (= 128 - 0.168736 R - 0.331264 G + 0.5 B), Cr likewise."""


def rgb_to_yuv444(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` -> uint8 planes ``[3, H, W]`` (Y, Cb, Cr), rounded to nearest (ties to even).

    Full-range BT.601 as JPEG defines it (ITU-T T.871): full range keeps the most of 8-bit RGB, and the
    y4m header says so (``XCOLORRANGE=FULL``) for ffmpeg/ffplay. Exact, in float32: with the coefficients
    as integer ratios every numerator is an integer below 2^24, so the 3x3 matrix product and the offset
    are exact in float32, and one correctly rounded division lands on ``k + 0.5`` only at a true tie.
    """
    h, w, _ = frame.shape
    v = _YUV_MATRIX @ frame.reshape(-1, 3).T.astype(np.float32)
    v += _YUV_OFFSET
    v /= _YUV_DIVISOR
    np.rint(v, out=v)
    np.clip(v, 0, 255, out=v)
    return v.astype(np.uint8).reshape(3, h, w)


def _fps_ratio(fps: float) -> Fraction:
    """Frame rate as a small exact ratio (23.976 -> 2997/125, 24 -> 24/1)."""
    return Fraction(fps).limit_denominator(1001)


class Y4MWriter:
    """YUV4MPEG2, 4:4:4 full range: one ``FRAME`` of three ``H x W`` planes per frame."""

    def __init__(self, target: str | Path, width: int, height: int, fps: float):
        self._atomic = None if str(target) == "-" else AtomicOutput(target)
        self._out: BinaryIO = sys.stdout.buffer if self._atomic is None else os.fdopen(os.dup(self._atomic.fd), "wb")
        r = _fps_ratio(fps)
        self._out.write(f"YUV4MPEG2 W{width} H{height} F{r.numerator}:{r.denominator} Ip A1:1 C444 "
                        "XCOLORRANGE=FULL\n".encode())

    def write(self, index: int, frame: np.ndarray) -> None:
        self._out.write(b"FRAME\n")
        self._out.write(rgb_to_yuv444(frame).tobytes())

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        ok = exc_type is None
        if self._atomic is None:
            if ok:
                self._out.flush()
            return
        self._out.close()
        self._atomic.__exit__(exc_type, exc, tb)


class VideoWriter:
    """H.264 in .mp4/.mkv via PyAV: libx264, CRF 18 (visually lossless), preset medium.

    4:2:0 for players' sake; 4:4:4 when a side is odd (4:2:0 needs even sizes).
    """

    def __init__(self, target: Path, width: int, height: int, fps: float):
        try:
            import av
        except ImportError:
            raise UserError(f"writing {target.suffix} needs PyAV: pip install 'nervkit[video]'") from None
        self._atomic = AtomicOutput(target)
        self._container = av.open(str(self._atomic.path), "w", format=VIDEO_FORMATS[target.suffix.lower()])
        self._stream = self._container.add_stream("libx264", rate=_fps_ratio(fps))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        self._stream.options = {"crf": "18", "preset": "medium"}
        self._frame_cls = av.VideoFrame

    def write(self, index: int, frame: np.ndarray) -> None:
        video_frame = self._frame_cls.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        self._container.mux(self._stream.encode(video_frame))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        ok = exc_type is None
        try:
            if ok:
                self._container.mux(self._stream.encode(None))
        except BaseException:
            self._atomic.abort()
            raise
        finally:
            self._container.close()
        self._atomic.__exit__(exc_type, exc, tb)


class PngFolderWriter:
    """One ``NNNNNN.png`` per frame, named by its index in the package (so ``--frames 10:12`` gives
    000010.png, 000011.png). Filled as a hidden sibling folder, renamed into place at the end; an
    existing non-empty folder is never touched."""

    def __init__(self, target: Path):
        check_writable(target, folder=True)
        self._atomic = AtomicOutput(target, folder=True)
        self.tmp = self._atomic.path

    def write(self, index: int, frame: np.ndarray) -> None:
        from PIL import Image

        Image.fromarray(frame).save(self.tmp / f"{index:06d}.png", compress_level=1)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self._atomic.__exit__(exc_type, exc, tb)


def open_sink(output: str, width: int, height: int, fps: float):
    """The writer ``--output`` names: ``-`` (y4m on stdout), ``*.y4m``, ``*.mp4``/``*.mkv``, or a folder
    (no suffix, or an existing folder) of PNGs."""
    if output == "-":
        return Y4MWriter("-", width, height, fps)
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix and not path.is_dir() and suffix != ".y4m" and suffix not in VIDEO_FORMATS:
        raise UserError(f"--output {output}: unknown kind; use .y4m, .mp4, .mkv, a folder for PNGs, "
                        "or - for y4m on stdout")
    if suffix == ".y4m" or suffix in VIDEO_FORMATS:
        check_writable(path)
    if suffix == ".y4m":
        return Y4MWriter(path, width, height, fps)
    if suffix in VIDEO_FORMATS:
        return VideoWriter(path, width, height, fps)
    return PngFolderWriter(path)

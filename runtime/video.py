"""Reading a video into uint8 frames, with HNeRV's center crop and bicubic resize, without torch.

Input is any file PyAV opens (mp4, mkv, mov, y4m, ...) or a folder of PNG/JPEG frames (sorted by name).
Frames are kept as uint8 ``[N, H, W, 3]`` RGB; the crop and resize are applied per frame as it is decoded, so
memory is bounded by the output, which is checked against ``max_bytes`` before it can grow past it.
``nerv-train`` reads its input here with PyTorch's own bicubic (``nervkit.trainer.video``); ``nerv-rd``
reads the same source with :func:`resize_bicubic`, the same filter in numpy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_MAX_BYTES = 8 << 30
"""Largest decoded clip (uint8 RGB) we agree to hold in memory: 8 GiB."""
MAX_SIDE = 8192
"""Largest frame side in pixels we accept before cropping."""


@dataclass
class Clip:
    frames: np.ndarray
    """uint8 ``[N, H, W, 3]`` RGB."""
    fps: float
    """Frames per second (24 when the input does not say: a folder of images)."""
    source: str


def parse_hw(text: str | None) -> tuple[int, int] | None:
    """``"640x1280"`` (or ``640_1280``, HNeRV's spelling) -> ``(640, 1280)``; ``None`` stays ``None``."""
    if text is None:
        return None
    parts = text.lower().replace("_", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"size {text!r} is not HxW, e.g. 640x1280") from None
    if h <= 0 or w <= 0 or max(h, w) > MAX_SIDE:
        raise UserError(f"size {text!r} must be positive and at most {MAX_SIDE} pixels a side")
    return h, w


def center_crop(frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Center crop ``[H, W, 3] -> [h, w, 3]``, offsets rounded like torchvision's ``center_crop``."""
    H, W = frame.shape[:2]
    h, w = hw
    if h > H or w > W:
        raise UserError(f"--crop {h}x{w} is larger than the {H}x{W} frames")
    top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    return frame[top:top + h, left:left + w]


def _bicubic_matrix(n_in: int, n_out: int, a: float = -0.75) -> np.ndarray:
    """``[n_out, n_in]`` weights of PyTorch's bicubic resampling along one axis (``align_corners=False``):
    Keys' cubic convolution with a = -0.75 at source position ``(i + 0.5) * n_in / n_out - 0.5``, edge
    samples repeated, no antialiasing."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(src).astype(np.int64)
    t = src - base
    near = lambda x: ((a + 2) * x - (a + 3)) * x * x + 1  # noqa: E731  |x| <= 1
    far = lambda x: ((a * x - 5 * a) * x + 8 * a) * x - 4 * a  # noqa: E731  1 < |x| < 2
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for offset, weight in ((-1, far(t + 1)), (0, near(t)), (1, near(1 - t)), (2, far(2 - t))):
        np.add.at(m, (rows, np.clip(base + offset, 0, n_in - 1)), weight)
    return m


def resize_bicubic(frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a uint8 ``[H, W, 3]`` frame as HNeRV does it (``F.interpolate(mode="bicubic",
    align_corners=False)`` on [0, 1] values, rounded back to uint8), in float64 numpy: equal to PyTorch's
    float32 result but for rare rounding ties (one level)."""
    mh, mw = _bicubic_matrix(frame.shape[0], hw[0]), _bicubic_matrix(frame.shape[1], hw[1])
    x = np.einsum("oh,hwc,pw->opc", mh, frame / 255.0, mw)
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


Resize = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def transform(frame: np.ndarray, crop, resize, resize_fn: Resize = resize_bicubic) -> np.ndarray:
    if crop is not None:
        frame = center_crop(frame, crop)
    if resize is not None and tuple(resize) != frame.shape[:2]:
        frame = resize_fn(frame, resize)
    return frame


def _rgb8(im) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` of a PIL image; 16-bit greyscale (modes ``I;16*``, ``I``) is scaled to 8 bits
    (``round(v / 257)``, so 65535 -> 255) where PIL's ``convert`` would clip it at 255."""
    if im.mode.startswith("I;16") or im.mode == "I":
        grey = np.clip(np.rint(np.asarray(im, dtype=np.float64) / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def _iter_folder(path: Path) -> tuple[Iterator[np.ndarray], float, int]:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")

    def frames():
        for f in files:
            try:
                with Image.open(f) as im:
                    if max(im.size) > MAX_SIDE:
                        raise UserError(f"{f}: {im.size[0]}x{im.size[1]} is larger than {MAX_SIDE} pixels a side")
                    yield _rgb8(im)
            except (UnidentifiedImageError, OSError) as err:
                raise UserError(f"{f}: not a readable image ({err})") from None

    return frames(), 24.0, len(files), (0, 0)


def _upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the stream's display matrix as players do (FFmpeg's autorotate): ``rotation`` is PyAV's
    ``VideoFrame.rotation``, the counter-clockwise angle in degrees the picture is shown turned by
    (phone videos carry +-90). Quarter turns only; a ``[H, W, 3]`` frame becomes ``[W, H, 3]`` at +-90."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame, turns)) if turns else frame


def _iter_file(path: Path) -> tuple[Iterator[np.ndarray], float, int]:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err  # FFmpeg's errors carry a made-up errno: say the reason
        raise UserError(f"{path}: not a readable video ({reason})") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    if max(stream.codec_context.width or 0, stream.codec_context.height or 0) > MAX_SIDE:
        container.close()
        raise UserError(f"{path}: frames larger than {MAX_SIDE} pixels a side")
    fps = float(stream.average_rate) if stream.average_rate else 24.0
    announced = int(stream.frames or 0)
    if not announced and container.duration and stream.average_rate:  # e.g. y4m: from the file's length
        announced = int(container.duration / 1e6 * float(stream.average_rate))

    def frames():
        try:
            for frame in container.decode(stream):
                yield _upright(frame.to_ndarray(format="rgb24"), frame.rotation)
        except MemoryError:
            raise UserError(f"{path}: not enough memory to decode its frames; use --max-frames, --crop or "
                            "--resize") from None
        except av.FFmpegError as err:
            raise UserError(f"{path}: video data is damaged ({err})") from None
        finally:
            container.close()

    return frames(), fps, announced, (stream.codec_context.height or 0, stream.codec_context.width or 0)


def _check_announced(path: Path, frames: int, max_frames: int | None, hw: tuple[int, int], max_bytes: int) -> None:
    """Refuse before decoding a clip whose header announces frames (``frames`` of ``hw`` after crop and
    resize, ``(0, 0)`` when unknown) that need more than ``max_bytes``, counted as the decoder counts them."""
    if max_frames is not None:
        frames = min(frames, max_frames)
    h, w = hw
    if 2 * frames * h * w * 3 > max_bytes:
        raise UserError(f"{path}: its {frames} frames of {h}x{w} need about {2 * frames * h * w * 3 / 2**30:.1f} GiB, "
                        f"more than {max_bytes / 2**30:.1f} GiB; use --max-frames, --crop or --resize, or raise "
                        "--max-memory")


def load_video(path: str | Path, crop=None, resize=None, max_frames: int | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES, resize_fn: Resize = resize_bicubic) -> Clip:
    """Decode ``path`` (video file or image folder) into a :class:`Clip`.

    ``crop`` then ``resize`` are (H, W) tuples, applied in that order (HNeRV's ``--crop_list`` then
    ``--resize_list``). Empty, unreadable, mixed-size or over-``max_bytes`` input raises ``UserError``.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    frames_iter, fps, expected, raw_hw = _iter_folder(path) if path.is_dir() else _iter_file(path)
    _check_announced(path, expected, max_frames, resize or crop or raw_hw, max_bytes)
    out: list[np.ndarray] = []
    total = 0
    for raw in frames_iter:
        frame = transform(raw, crop, resize, resize_fn)
        if out and frame.shape != out[0].shape:
            raise UserError(f"{path}: frame {len(out)} is {frame.shape[1]}x{frame.shape[0]}, "
                            f"frame 0 is {out[0].shape[1]}x{out[0].shape[0]}: all frames must have one size")
        total += 2 * frame.nbytes  # the frame, and its copy in the stacked clip
        if total > max_bytes:
            raise UserError(f"{path}: decoded frames exceed {max_bytes / 2**30:.1f} GiB; "
                            "use --max-frames, --crop or --resize")
        out.append(np.ascontiguousarray(frame))
        if max_frames is not None and len(out) >= max_frames:
            break
    if not out:
        raise UserError(f"{path}: contains no frames")
    if max_frames is None and expected > len(out):
        print(f"warning: {path}: decoded {len(out)} of the {expected} frames its header announces "
              "(truncated file?)", file=sys.stderr)
    return Clip(np.stack(out), fps, str(path))

"""The source frames ``nerv-rd`` compares against, read as ``nerv-train`` reads its input, without torch.

A video file (anything PyAV opens) or a folder of images sorted by name, as uint8 RGB ``[N, H, W, 3]``,
with ``nerv-train``'s ``--crop HxW`` (centre crop, offsets rounded like torchvision) then ``--resize HxW``
(bicubic as PyTorch's ``F.interpolate(mode="bicubic", align_corners=False)`` on [0, 1] values: Keys'
cubic convolution with a = -0.75, edge samples repeated, no antialiasing), so a package is compared with
the frames it was trained on. ``tests/test_rd.py`` checks the result against the trainer's reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nervkit.runtime.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
MAX_BYTES = 8 << 30
"""Largest decoded source (uint8 RGB) held in memory: 8 GiB."""
MAX_SIDE = 8192


def parse_hw(text: str | None, flag: str) -> tuple[int, int] | None:
    """``"160x320"`` (or ``160_320``) -> ``(160, 320)``; ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        h, w = (int(p) for p in text.lower().replace("_", "x").split("x"))
    except ValueError:
        raise UserError(f"{flag} {text!r} is not HxW, e.g. 640x1280") from None
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        raise UserError(f"{flag} {text!r} must be positive and at most {MAX_SIDE} pixels a side")
    return h, w


def _bicubic_matrix(n_in: int, n_out: int, a: float = -0.75) -> np.ndarray:
    """``[n_out, n_in]`` weights of PyTorch's bicubic resampling along one axis (align_corners=False)."""
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


def _transform(frame: np.ndarray, crop, resize) -> np.ndarray:
    if crop is not None:
        (H, W), (h, w) = frame.shape[:2], crop
        if h > H or w > W:
            raise UserError(f"--crop {h}x{w} is larger than the {H}x{W} frames")
        top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
        frame = frame[top:top + h, left:left + w]
    if resize is not None and tuple(resize) != frame.shape[:2]:
        mh, mw = _bicubic_matrix(frame.shape[0], resize[0]), _bicubic_matrix(frame.shape[1], resize[1])
        x = np.einsum("oh,hwc,pw->opc", mh, frame / 255.0, mw)
        frame = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(frame)


def _frames(path: Path):
    if path.is_dir():
        from PIL import Image, UnidentifiedImageError

        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for f in files:
            try:
                with Image.open(f) as im:
                    if max(im.size) > MAX_SIDE:
                        raise UserError(f"{f}: larger than {MAX_SIDE} pixels a side")
                    yield np.asarray(im.convert("RGB"))
            except (UnidentifiedImageError, OSError) as err:
                raise UserError(f"{f}: not a readable image ({err})") from None
        return
    try:
        import av
    except ImportError:
        raise UserError("reading a video file needs PyAV: pip install 'nervkit[video]'") from None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"{path}: has no video stream")
            for frame in container.decode(container.streams.video[0]):
                if max(frame.width, frame.height) > MAX_SIDE:
                    raise UserError(f"{path}: larger than {MAX_SIDE} pixels a side")
                yield frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable video ({err})") from None


def load_source(path: str | Path, crop=None, resize=None) -> np.ndarray:
    """All frames of ``path`` after ``crop`` then ``resize`` ((H, W) or None): uint8 ``[N, H, W, 3]``."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    out, total = [], 0
    for raw in _frames(path):
        frame = _transform(raw, crop, resize)
        if out and frame.shape != out[0].shape:
            raise UserError(f"{path}: frame {len(out)} is {frame.shape[1]}x{frame.shape[0]}, frame 0 is "
                            f"{out[0].shape[1]}x{out[0].shape[0]}: all frames must have one size")
        total += frame.nbytes
        if total > MAX_BYTES:
            raise UserError(f"{path}: decoded frames exceed {MAX_BYTES >> 30} GiB; use --crop or --resize")
        out.append(frame)
    if not out:
        raise UserError(f"{path}: contains no frames")
    return np.stack(out)

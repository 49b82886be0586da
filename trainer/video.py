"""The training input: :func:`nervkit.runtime.video.load_video` with the resize HNeRV trains on, PyTorch's
own bicubic ``F.interpolate`` (so frames are bit-identical to the official code's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime import video
from ..runtime.video import Clip


def resize_bicubic(frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a uint8 frame as HNeRV does it: on [0, 1] floats (``F.interpolate``,
    ``align_corners=False``), then rounded back to uint8."""
    x = torch.tensor(frame).permute(2, 0, 1)[None].float() / 255.0
    y = F.interpolate(x, size=hw, mode="bicubic", align_corners=False)
    return (y[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def load_video(path: str | Path, crop=None, resize=None, max_frames: int | None = None,
               max_bytes: int = video.DEFAULT_MAX_BYTES) -> Clip:
    """Decode ``path`` (video file or image folder) into a :class:`~nervkit.runtime.video.Clip`, cropped
    then resized ((H, W) tuples, HNeRV's ``--crop_list`` then ``--resize_list``) with :func:`resize_bicubic`."""
    return video.load_video(path, crop, resize, max_frames, max_bytes, resize_fn=resize_bicubic)
